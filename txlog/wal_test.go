package txlog

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func lastSegmentPath(s *Storage) string {
	return filepath.Join(s.wal.dir, s.wal.segs[len(s.wal.segs)-1].name())
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestWALTornTail(t *testing.T) {
	// setup writes entries 1..5 and then entry 6 alone, the last record of
	// the last segment, which spans [start, end) of the file at path.
	setup := func(t *testing.T) (dir, path string, start, end int64) {
		dir = t.TempDir()
		s := openStorage(t, dir, 0)
		mustSave(t, s, hardState(1, 1, 5), entsRange(1, 5, 1))
		path = lastSegmentPath(s)
		start = fileSize(t, path)
		mustSave(t, s, nil, entsRange(6, 6, 1))
		end = fileSize(t, path)
		s.Close()
		return dir, path, start, end
	}
	truncate := func(n int64) func(*testing.T, string, int64, int64) {
		return func(t *testing.T, path string, start, _ int64) {
			if err := os.Truncate(path, start+n); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, start, end int64)
	}{
		{"cut after 1 byte", truncate(1)},
		{"cut inside the length", truncate(3)},
		{"cut inside the crc", truncate(6)},
		{"cut before the type", truncate(8)},
		{"cut after the header", truncate(recordHeaderSize)},
		{"cut inside the payload", truncate(recordHeaderSize + 5)},
		{"cut before the last byte", func(t *testing.T, path string, start, end int64) {
			truncate(end-start-1)(t, path, start, end)
		}},
		{"last byte corrupt", func(t *testing.T, path string, _, _ int64) { flipByte(t, path, -1) }},
		{"crc corrupt", func(t *testing.T, path string, start, _ int64) { flipByte(t, path, int(start)+5) }},
		{"zeroed", func(t *testing.T, path string, start, end int64) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, end-start+100), start); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, start, end := setup(t)
			tc.damage(t, path, start, end)

			s := openStorage(t, dir, 0)
			checkLog(t, s, 0, entsRange(1, 5, 1))
			checkHardState(t, s, hardState(1, 1, 5))
			if got := fileSize(t, path); got != start {
				t.Fatalf("segment is %d bytes after recovery, want the torn tail cut at %d", got, start)
			}
			mustSave(t, s, hardState(2, 2, 5), entsRange(6, 7, 2))

			s = reopen(t, s, dir)
			checkLog(t, s, 0, append(entsRange(1, 5, 1), entsRange(6, 7, 2)...))
			checkHardState(t, s, hardState(2, 2, 5))
		})
	}
}

func TestWALCorruptionIsAnError(t *testing.T) {
	// setup writes three segments of 5 entries each; it returns their paths
	// and the offset of the record of entry 2 in the last one.
	setup := func(t *testing.T) (dir string, segs []string, mid int64) {
		dir = t.TempDir()
		s := openStorage(t, dir, 100)
		for i := uint64(0); i < 3; i++ {
			mustSave(t, s, hardState(1, 1, 5*i), entsRange(5*i+1, 5*i+1, 1))
			if i == 2 {
				mid = fileSize(t, lastSegmentPath(s))
			}
			mustSave(t, s, nil, entsRange(5*i+2, 5*i+5, 1))
		}
		for _, seg := range s.wal.segs {
			segs = append(segs, filepath.Join(dir, "wal", seg.name()))
		}
		if len(segs) != 3 {
			t.Fatalf("%d segments, want 3", len(segs))
		}
		s.Close()
		return dir, segs, mid
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, segs []string, mid int64)
	}{
		{"flipped byte mid last segment", func(t *testing.T, segs []string, mid int64) {
			flipByte(t, segs[2], int(mid)+recordHeaderSize+2)
		}},
		{"length mid last segment runs past the end", func(t *testing.T, segs []string, mid int64) {
			b, err := os.ReadFile(segs[2])
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint32(b[mid:], uint32(len(b)))
			if err := os.WriteFile(segs[2], b, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"last byte of an earlier segment", func(t *testing.T, segs []string, _ int64) {
			flipByte(t, segs[1], -1)
		}},
		{"earlier segment cut short", func(t *testing.T, segs []string, _ int64) {
			if err := os.Truncate(segs[0], fileSize(t, segs[0])-3); err != nil {
				t.Fatal(err)
			}
		}},
		{"segment missing", func(t *testing.T, segs []string, _ int64) {
			if err := os.Remove(segs[1]); err != nil {
				t.Fatal(err)
			}
		}},
		{"unknown record type at the tail", func(t *testing.T, segs []string, _ int64) {
			f, err := os.OpenFile(segs[2], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(appendRecord(nil, 99, []byte("from the future"))); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, segs, mid := setup(t)
			tc.damage(t, segs, mid)
			_, err := OpenStorage(dir, StorageOptions{SegmentSize: 100})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenStorage: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), ".wal") {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestWALRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 300)
	for i := uint64(1); i <= 60; i++ {
		mustSave(t, s, hardState(1, 1, i-1), []*raftpb.Entry{ent(i, 1)})
	}
	if len(s.wal.segs) < 5 {
		t.Fatalf("%d segments, want rotation", len(s.wal.segs))
	}
	// Every segment starts with the snapshot marker and the hard state.
	for i, seg := range s.wal.segs {
		b, err := os.ReadFile(filepath.Join(dir, "wal", seg.name()))
		if err != nil {
			t.Fatal(err)
		}
		typ, _, n, err := decodeRecord(b)
		if err != nil || typ != recSnapMark {
			t.Fatalf("segment %s starts with record type %d, %v", seg.name(), typ, err)
		}
		if typ, _, _, err := decodeRecord(b[n:]); i > 0 && (err != nil || typ != recHardState) {
			t.Fatalf("segment %s: second record type %d, %v; want the hard state", seg.name(), typ, err)
		}
		if i > 0 && seg.first <= s.wal.segs[i-1].first {
			t.Fatalf("segment %s does not start after %s", seg.name(), s.wal.segs[i-1].name())
		}
	}
	s = reopen(t, s, dir)
	checkLog(t, s, 0, entsRange(1, 60, 1))

	if _, err := s.CreateSnapshot(40, nil, []byte("state@40")); err != nil {
		t.Fatal(err)
	}
	n := len(s.wal.segs)
	if err := s.Compact(35); err != nil {
		t.Fatal(err)
	}
	if len(s.wal.segs) >= n {
		t.Fatalf("Compact released nothing: %d segments", len(s.wal.segs))
	}
	if first := s.wal.segs[0].first; first > 35 {
		t.Fatalf("oldest kept segment starts at %d, after the compaction point 35", first)
	}
	if len(s.wal.segs) > 1 && s.wal.segs[1].first <= 35 {
		t.Fatalf("segment %s was not released", s.wal.segs[0].name())
	}
	des, _ := os.ReadDir(filepath.Join(dir, "wal"))
	if len(des) != len(s.wal.segs) {
		t.Fatalf("%d files in the wal dir, want %d", len(des), len(s.wal.segs))
	}
	checkLog(t, s, 1, entsRange(36, 60, 1))

	s = reopen(t, s, dir)
	checkSnapshot(t, s, 40, 1, "state@40")
	checkLog(t, s, 1, entsRange(41, 60, 1))
	checkHardState(t, s, hardState(1, 1, 59))

	// The last segment is never released.
	if err := s.wal.releaseTo(1000); err != nil {
		t.Fatal(err)
	}
	if len(s.wal.segs) != 1 {
		t.Fatalf("%d segments after releasing everything, want the last one", len(s.wal.segs))
	}
}

func TestWALReplayConflicts(t *testing.T) {
	dir := t.TempDir()
	w, _, err := openWAL(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	saves := [][]*raftpb.Entry{
		entsRange(1, 10, 1),
		entsRange(6, 8, 2),  // truncates 6..10
		entsRange(9, 12, 2), // continues
		entsRange(3, 3, 3),  // truncates 3..12, in a later segment
		entsRange(4, 5, 3),
	}
	for _, es := range saves {
		if err := w.save(hardState(3, 1, 2), es, true); err != nil {
			t.Fatal(err)
		}
	}
	w.close()
	_, st, err := openWAL(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	want := append(entsRange(1, 2, 1), entsRange(3, 5, 3)...)
	if len(st.ents) != len(want) {
		t.Fatalf("replayed %d entries, want %d", len(st.ents), len(want))
	}
	for i := range want {
		if st.ents[i].GetIndex() != want[i].GetIndex() || st.ents[i].GetTerm() != want[i].GetTerm() {
			t.Fatalf("entry %d: got %d/%d", i, st.ents[i].GetIndex(), st.ents[i].GetTerm())
		}
	}
}

func TestWALNothingToWriteNoSync(t *testing.T) {
	s := openStorage(t, t.TempDir(), 0)
	mustSave(t, s, hardState(1, 1, 0), entsRange(1, 1, 1))
	path := lastSegmentPath(s)
	size := fileSize(t, path)
	mustSave(t, s, nil, nil)
	mustSave(t, s, &raftpb.HardState{}, nil)
	mustSave(t, s, hardState(1, 1, 0), nil) // unchanged
	if got := fileSize(t, path); got != size {
		t.Fatalf("segment grew from %d to %d bytes with nothing to write", size, got)
	}
}

func TestWALWriteErrorIsSticky(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 0), entsRange(1, 2, 1))
	s.wal.f.Close() // every write and sync now fails
	err := s.Save(nil, entsRange(3, 3, 1))
	if err == nil {
		t.Fatal("Save on a failed file succeeded")
	}
	if last, _ := s.LastIndex(); last != 2 {
		t.Fatalf("LastIndex = %d after a failed Save, want 2", last)
	}
	if err2 := s.Save(hardState(1, 1, 1), nil); !errors.Is(err2, os.ErrClosed) {
		t.Fatalf("second Save: %v, want the first error again", err2)
	}
	s.wal.f = nil
	s = openStorage(t, dir, 0)
	checkLog(t, s, 0, entsRange(1, 2, 1))
}

func TestWALRemovesUnfinishedFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir, 0)
	mustSave(t, s, hardState(1, 1, 0), entsRange(1, 2, 1))
	s.Close()
	leftovers := []string{
		filepath.Join(dir, "wal", segment{seq: 1, first: 3}.name()+".tmp"),
		filepath.Join(dir, "snap", snapFileName(1, 2)+".tmp"),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("half written"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	s = openStorage(t, dir, 0)
	checkLog(t, s, 0, entsRange(1, 2, 1))
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
}

func TestParseSegmentName(t *testing.T) {
	s := segment{seq: 0x1f, first: 0xabc}
	if got, ok := parseSegmentName(s.name()); !ok || got != s {
		t.Fatalf("parseSegmentName(%q) = %v, %v", s.name(), got, ok)
	}
	for _, bad := range []string{"1f-abc.wal", "000000000000001f-0000000000000abc.wal.tmp", "x.wal", "000000000000001f-0000000000000abc.snap"} {
		if _, ok := parseSegmentName(bad); ok {
			t.Errorf("parseSegmentName(%q) accepted", bad)
		}
	}
}
