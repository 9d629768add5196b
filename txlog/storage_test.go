package txlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{
		Index: proto.Uint64(index),
		Term:  proto.Uint64(term),
		Data:  fmt.Appendf(nil, "entry %d of term %d", index, term),
	}
}

// entsRange returns entries lo..hi (inclusive) of term.
func entsRange(lo, hi, term uint64) []*raftpb.Entry {
	var es []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, ent(i, term))
	}
	return es
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

func openStorage(t *testing.T, dir string, segSize int64) *Storage {
	t.Helper()
	s, err := OpenStorage(dir, StorageOptions{SegmentSize: segSize})
	if err != nil {
		t.Fatalf("OpenStorage: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t *testing.T, s *Storage, dir string) *Storage {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStorage(t, dir, s.wal.segSize)
}

func mustSave(t *testing.T, s *Storage, hs *raftpb.HardState, es []*raftpb.Entry) {
	t.Helper()
	if err := s.Save(hs, es); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// checkLog checks that s holds exactly want after the dummy entry at
// (first-1, prevTerm).
func checkLog(t *testing.T, s *Storage, prevTerm uint64, want []*raftpb.Entry) {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if len(want) > 0 && want[0].GetIndex() != first {
		t.Fatalf("FirstIndex = %d, want %d", first, want[0].GetIndex())
	}
	if last != first+uint64(len(want))-1 {
		t.Fatalf("LastIndex = %d, want %d", last, first+uint64(len(want))-1)
	}
	if term, err := s.Term(first - 1); err != nil || term != prevTerm {
		t.Fatalf("Term(FirstIndex-1 = %d) = %d, %v; want %d", first-1, term, err, prevTerm)
	}
	if len(want) == 0 {
		return
	}
	got, err := s.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Entries: got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("entry %d: got %v, want %v", want[i].GetIndex(), got[i], want[i])
		}
		if term, err := s.Term(want[i].GetIndex()); err != nil || term != want[i].GetTerm() {
			t.Fatalf("Term(%d) = %d, %v; want %d", want[i].GetIndex(), term, err, want[i].GetTerm())
		}
	}
}

func checkHardState(t *testing.T, s *Storage, want *raftpb.HardState) {
	t.Helper()
	hs, _, err := s.InitialState()
	if err != nil || !hardStateEqual(hs, want) {
		t.Fatalf("InitialState hard state = %v, %v; want %v", hs, err, want)
	}
}

func TestStorageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	if hs, cs, err := s.InitialState(); err != nil || !raft.IsEmptyHardState(hs) || cs == nil {
		t.Fatalf("fresh InitialState = %v, %v, %v", hs, cs, err)
	}
	checkLog(t, s, 0, nil)

	mustSave(t, s, hardState(1, 1, 0), entsRange(1, 3, 1))
	mustSave(t, s, hardState(2, 0, 2), entsRange(4, 6, 2))
	mustSave(t, s, nil, entsRange(7, 7, 2))
	want := append(entsRange(1, 3, 1), entsRange(4, 7, 2)...)
	checkLog(t, s, 0, want)
	checkHardState(t, s, hardState(2, 0, 2))

	s = reopen(t, s, dir)
	checkLog(t, s, 0, want)
	checkHardState(t, s, hardState(2, 0, 2))
}

func TestStorageConflictingAppend(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 2), entsRange(1, 6, 1))
	held, err := s.Entries(4, 7, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	// A new leader of term 2 overwrites 4..6 with a shorter tail.
	mustSave(t, s, hardState(2, 2, 2), entsRange(4, 5, 2))
	want := append(entsRange(1, 3, 1), entsRange(4, 5, 2)...)
	checkLog(t, s, 0, want)
	if !proto.Equal(held[0], ent(4, 1)) {
		t.Fatalf("entries handed out earlier were overwritten: %v", held[0])
	}

	s = reopen(t, s, dir)
	checkLog(t, s, 0, want)
	// And once more, after the reopen, below the previous conflict point.
	mustSave(t, s, hardState(3, 3, 2), entsRange(3, 3, 3))
	want = append(entsRange(1, 2, 1), entsRange(3, 3, 3)...)
	checkLog(t, s, 0, want)
	s = reopen(t, s, dir)
	checkLog(t, s, 0, want)
}

func TestStorageSaveChecks(t *testing.T) {
	s := openStorage(t, t.TempDir(), 0)
	mustSave(t, s, nil, entsRange(1, 3, 1))
	if err := s.Save(nil, entsRange(5, 6, 1)); err == nil {
		t.Fatal("append with a gap succeeded")
	}
	if err := s.Save(nil, []*raftpb.Entry{ent(4, 1), ent(6, 1)}); err == nil {
		t.Fatal("non-consecutive append succeeded")
	}
	checkLog(t, s, 0, entsRange(1, 3, 1))
}

func TestStorageEntriesMaxSize(t *testing.T) {
	s := openStorage(t, t.TempDir(), 0)
	es := entsRange(1, 5, 1)
	mustSave(t, s, nil, es)
	size := uint64(proto.Size(es[0])) // all entries have the same size
	for _, tc := range []struct {
		maxSize uint64
		want    int
	}{
		{0, 1}, {size - 1, 1}, {size, 1}, {2*size - 1, 1}, {2 * size, 2}, {3 * size, 3}, {^uint64(0), 5},
	} {
		got, err := s.Entries(1, 6, tc.maxSize)
		if err != nil || len(got) != tc.want {
			t.Errorf("Entries(1, 6, %d) = %d entries, %v; want %d", tc.maxSize, len(got), err, tc.want)
		}
	}
}

func TestStorageErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	if _, err := s.Entries(1, 1, 100); err != raft.ErrUnavailable {
		t.Errorf("Entries on an empty log: %v, want ErrUnavailable", err)
	}
	mustSave(t, s, hardState(1, 1, 10), entsRange(1, 10, 1))
	if _, err := s.CreateSnapshot(5, &raftpb.ConfState{Voters: []uint64{1}}, []byte("state@5")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	// raft compares these errors with ==, so they must not be wrapped.
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Entries below first", second(s.Entries(5, 7, 100)), raft.ErrCompacted},
		{"Entries beyond last", second(s.Entries(6, 12, 100)), raft.ErrUnavailable},
		{"Term below first-1", second(s.Term(4)), raft.ErrCompacted},
		{"Term beyond last", second(s.Term(11)), raft.ErrUnavailable},
		{"CreateSnapshot at snapshot", second(s.CreateSnapshot(5, nil, nil)), raft.ErrSnapOutOfDate},
		{"CreateSnapshot below snapshot", second(s.CreateSnapshot(3, nil, nil)), raft.ErrSnapOutOfDate},
		{"Compact at first-1", s.Compact(5), raft.ErrCompacted},
		{"Compact below", s.Compact(2), raft.ErrCompacted},
		{"ApplySnapshot older", s.ApplySnapshot(testSnapshot(4, 1, "old")), raft.ErrSnapOutOfDate},
	} {
		if tc.err != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if term, err := s.Term(5); err != nil || term != 1 {
		t.Errorf("Term(FirstIndex-1) = %d, %v", term, err)
	}
	if _, err := s.CreateSnapshot(11, nil, nil); err == nil {
		t.Error("CreateSnapshot beyond the last index succeeded")
	}
	if err := s.Compact(11); err == nil {
		t.Error("Compact beyond the last index succeeded")
	}
	s.Close()
	if err := s.Save(nil, entsRange(11, 11, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v, want ErrClosed", err)
	}
}

func second[T any](_ T, err error) error { return err }

func testSnapshot(index, term uint64, data string) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: []byte(data),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(index),
			Term:      proto.Uint64(term),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		},
	}
}

func checkSnapshot(t *testing.T, s *Storage, index, term uint64, data string) {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	md := snap.GetMetadata()
	if md.GetIndex() != index || md.GetTerm() != term || string(snap.GetData()) != data {
		t.Fatalf("Snapshot = index %d term %d data %q; want %d %d %q", md.GetIndex(), md.GetTerm(), snap.GetData(), index, term, data)
	}
}

func checkConfState(t *testing.T, s *Storage, voters ...uint64) {
	t.Helper()
	_, cs, err := s.InitialState()
	if err != nil || !slices.Equal(cs.GetVoters(), voters) {
		t.Fatalf("InitialState ConfState = %v, %v; want voters %v", cs, err, voters)
	}
}

func TestStorageSnapshotCompactReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 512)
	for i := uint64(1); i <= 40; i++ {
		mustSave(t, s, hardState(1+i/20, 1, i-1), []*raftpb.Entry{ent(i, 1+i/20)})
	}
	mustSave(t, s, hardState(3, 1, 40), nil)
	all := func(lo, hi uint64) []*raftpb.Entry {
		var es []*raftpb.Entry
		for i := lo; i <= hi; i++ {
			es = append(es, ent(i, 1+i/20))
		}
		return es
	}
	cs := &raftpb.ConfState{Voters: []uint64{1}}
	snap, err := s.CreateSnapshot(30, cs, []byte("state@30"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetTerm() != 2 {
		t.Fatalf("snapshot term %d, want 2", snap.GetMetadata().GetTerm())
	}
	before := len(s.wal.segs)
	if err := s.Compact(25); err != nil {
		t.Fatal(err)
	}
	if len(s.wal.segs) >= before {
		t.Fatalf("Compact released no segment: %d before, %d after", before, len(s.wal.segs))
	}
	checkLog(t, s, 2, all(26, 40))
	checkSnapshot(t, s, 30, 2, "state@30")

	// A restart resumes from the snapshot file; the log after it survives.
	s = reopen(t, s, dir)
	checkLog(t, s, 2, all(31, 40))
	checkSnapshot(t, s, 30, 2, "state@30")
	checkConfState(t, s, 1)
	checkHardState(t, s, hardState(3, 1, 40))
	mustSave(t, s, nil, all(41, 41))
	s = reopen(t, s, dir)
	checkLog(t, s, 2, all(31, 41))
}

func TestStorageApplySnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 256)
	mustSave(t, s, hardState(1, 1, 5), entsRange(1, 20, 1))
	snap := testSnapshot(100, 3, "leader state")
	if err := s.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	checkLog(t, s, 3, nil)
	checkSnapshot(t, s, 100, 3, "leader state")
	if len(s.wal.segs) != 1 {
		t.Fatalf("%d wal segments after ApplySnapshot, want the old ones released", len(s.wal.segs))
	}
	mustSave(t, s, hardState(3, 0, 100), entsRange(101, 103, 3))

	s = reopen(t, s, dir)
	checkLog(t, s, 3, entsRange(101, 103, 3))
	checkSnapshot(t, s, 100, 3, "leader state")
	checkConfState(t, s, 1, 2, 3)
	checkHardState(t, s, hardState(3, 0, 100))
}

// A crash after the snapshot file was written but before the WAL marker: the
// WAL still holds the old history, which the snapshot replaced.
func TestStorageApplySnapshotCrashBeforeMarker(t *testing.T) {
	for _, tc := range []struct {
		name        string
		index, term uint64
	}{
		{"beyond the log", 100, 3},
		{"inside the log, other term", 15, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStorage(t, dir, 0)
			mustSave(t, s, hardState(1, 1, 5), entsRange(1, 20, 1))
			if err := s.snaps.save(testSnapshot(tc.index, tc.term, "leader state")); err != nil {
				t.Fatal(err)
			}

			s = reopen(t, s, dir)
			checkLog(t, s, tc.term, nil)
			checkSnapshot(t, s, tc.index, tc.term, "leader state")
			checkHardState(t, s, hardState(1, 1, tc.index)) // commit raised to the snapshot
			next := entsRange(tc.index+1, tc.index+2, tc.term)
			mustSave(t, s, hardState(tc.term, 0, tc.index+1), next)

			s = reopen(t, s, dir)
			checkLog(t, s, tc.term, next)
			checkHardState(t, s, hardState(tc.term, 0, tc.index+1))
		})
	}
}

func TestStorageCorruptNewestSnapshotFallsBack(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 10), entsRange(1, 10, 1))
	if _, err := s.CreateSnapshot(5, nil, []byte("state@5")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(8, nil, []byte("state@8")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	flipByte(t, filepath.Join(dir, "snap", snapFileName(1, 8)), -1)

	s = openStorage(t, dir, 0)
	checkSnapshot(t, s, 5, 1, "state@5")
	checkLog(t, s, 1, entsRange(6, 10, 1))
}

// When the only snapshot the WAL continues is damaged, committed entries are
// missing: opening fails, and leaves the WAL as it was for a repair.
func TestStorageMissingSnapshotIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 5), entsRange(1, 5, 1))
	if err := s.ApplySnapshot(testSnapshot(100, 3, "leader state")); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, hardState(3, 0, 102), entsRange(101, 103, 3))
	s.Close()
	path := filepath.Join(dir, "snap", snapFileName(3, 100))
	flipByte(t, path, 30)

	for range 2 {
		if _, err := OpenStorage(dir, StorageOptions{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenStorage without the snapshot: %v, want ErrCorrupt", err)
		}
	}
	// The operator puts the snapshot back.
	if err := os.Rename(path+".broken", path); err != nil {
		t.Fatal(err)
	}
	flipByte(t, path, 30)
	s = openStorage(t, dir, 0)
	checkSnapshot(t, s, 100, 3, "leader state")
	checkLog(t, s, 3, entsRange(101, 103, 3))
	checkHardState(t, s, hardState(3, 0, 102))
}

func TestStorageCorruptWALIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 1), entsRange(1, 5, 1))
	mustSave(t, s, hardState(1, 1, 5), entsRange(6, 6, 1))
	s.Close()
	flipByte(t, filepath.Join(dir, "wal", s.wal.segs[0].name()), 100)
	if _, err := OpenStorage(dir, StorageOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenStorage of a corrupt WAL: %v, want ErrCorrupt", err)
	}
}

// flipByte inverts the byte at off in the file at path; a negative off counts
// from the end.
func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xFF
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// Raft reads the storage while the Ready loop writes it; run with -race.
func TestStorageConcurrentReadWrite(t *testing.T) {
	s := openStorage(t, t.TempDir(), 4096)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			s.Term(last)
			s.Entries(first, last+1, 1<<10)
			s.Snapshot()
			s.InitialState()
		}
	})
	for i := uint64(1); i <= 200; i++ {
		mustSave(t, s, hardState(1, 1, i-1), []*raftpb.Entry{ent(i, 1)})
		if i%50 == 0 {
			if _, err := s.CreateSnapshot(i-10, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Compact(i - 20); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
}

// TestStorageDrivesRaft runs a single-node raft.RawNode on a Storage through
// elections, proposals, snapshots, compaction and a restart.
func TestStorageDrivesRaft(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 512)
	applied := map[uint64]string{} // index -> data of every normal entry applied
	var appliedIndex uint64
	var cs *raftpb.ConfState

	start := func(s *Storage, from uint64) *raft.RawNode {
		t.Helper()
		rn, err := raft.NewRawNode(&raft.Config{
			ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Applied: from,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Logger: discardLogger{},
		})
		if err != nil {
			t.Fatal(err)
		}
		return rn
	}
	drain := func(rn *raft.RawNode) {
		t.Helper()
		for rn.HasReady() {
			rd := rn.Ready()
			mustSave(t, s, rd.HardState, rd.Entries)
			for _, e := range rd.CommittedEntries {
				switch e.GetType() {
				case raftpb.EntryConfChange:
					var cc raftpb.ConfChange
					if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
						t.Fatal(err)
					}
					cs = rn.ApplyConfChange(&cc)
				case raftpb.EntryNormal:
					if len(e.GetData()) > 0 {
						if prev, ok := applied[e.GetIndex()]; ok && prev != string(e.GetData()) {
							t.Fatalf("entry %d re-applied as %q, was %q", e.GetIndex(), e.GetData(), prev)
						}
						applied[e.GetIndex()] = string(e.GetData())
					}
				}
				appliedIndex = e.GetIndex()
			}
			rn.Advance(rd)
		}
	}

	rn := start(s, 0)
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		t.Fatal(err)
	}
	drain(rn)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	drain(rn)
	var snapIndex uint64
	for i := range 30 {
		if err := rn.Propose(fmt.Appendf(nil, "decision %d", i)); err != nil {
			t.Fatal(err)
		}
		drain(rn)
		if i%10 == 9 {
			if _, err := s.CreateSnapshot(appliedIndex, cs, []byte("sm")); err != nil {
				t.Fatal(err)
			}
			snapIndex = appliedIndex
			if err := s.Compact(appliedIndex - 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(applied) != 30 {
		t.Fatalf("%d proposals applied, want 30", len(applied))
	}
	last, _ := s.LastIndex()

	s = reopen(t, s, dir)
	rn = start(s, snapIndex)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	drain(rn)
	if err := rn.Propose([]byte("after restart")); err != nil {
		t.Fatal(err)
	}
	drain(rn)
	if got := applied[last+2]; got != "after restart" { // +1 is the new leader's empty entry
		t.Fatalf("entry %d = %q after the restart, want the new proposal", last+2, got)
	}
	if st := rn.Status(); st.RaftState != raft.StateLeader || st.GetCommit() != last+2 {
		t.Fatalf("status after restart: %v commit %d", st.RaftState, st.GetCommit())
	}
}

type discardLogger struct{}

func (discardLogger) Debug(...any)            {}
func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Error(...any)            {}
func (discardLogger) Errorf(string, ...any)   {}
func (discardLogger) Info(...any)             {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warning(...any)          {}
func (discardLogger) Warningf(string, ...any) {}
func (discardLogger) Fatal(v ...any)          { panic(fmt.Sprint(v...)) }
func (discardLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
func (discardLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (discardLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
