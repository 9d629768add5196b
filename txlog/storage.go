package txlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrClosed is returned by the writing methods of a closed Storage.
var ErrClosed = errors.New("txlog: storage closed")

// StorageOptions tunes OpenStorage. The zero value gives the defaults.
type StorageOptions struct {
	// SegmentSize is the size in bytes past which the WAL starts a new
	// segment file; a segment exceeds it by at most one Save. Zero means
	// 64 MiB.
	SegmentSize int64
	// OnSync, if set, is told how long each fdatasync of a Save took. It is
	// called by the writer and must not block.
	OnSync func(time.Duration)
}

// Storage is raft.Storage backed by a WAL (dataDir/wal) and snapshot files
// (dataDir/snap). The log from the last snapshot or compaction point on is
// also held in memory, so the raft.Storage methods do no I/O.
//
// Storage is safe for concurrent use: raft reads it from its goroutine while
// the Ready loop writes. Writers (Save, ApplySnapshot, CreateSnapshot,
// Compact, Close) are serialized and do their I/O without blocking readers.
type Storage struct {
	writeMu sync.Mutex // serializes writers; held across their I/O
	wal     *wal
	snaps   *snapshotter
	closed  bool // guarded by writeMu

	mu   sync.Mutex // guards the fields below; never held across I/O
	hs   *raftpb.HardState
	snap *raftpb.Snapshot
	// ents[0] is a dummy entry holding the index and term of the snapshot or
	// compaction point; ents[i] has index ents[0].Index+i. Entries are never
	// mutated once stored.
	ents []*raftpb.Entry
}

var _ raft.Storage = (*Storage)(nil)

// OpenStorage opens (creating if needed) dataDir/wal and dataDir/snap and
// replays them: the newest valid snapshot, then the WAL entries that continue
// it. WAL damage other than a torn tail is reported as ErrCorrupt.
func OpenStorage(dataDir string, opts StorageOptions) (*Storage, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("txlog: negative segment size %d", opts.SegmentSize)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("txlog: create data dir: %w", err)
	}
	snaps, err := newSnapshotter(filepath.Join(dataDir, "snap"))
	if err != nil {
		return nil, err
	}
	snap, err := snaps.load()
	if err != nil {
		return nil, err
	}
	w, st, err := openWAL(filepath.Join(dataDir, "wal"), opts.SegmentSize)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dataDir); err != nil {
		w.close()
		return nil, fmt.Errorf("txlog: sync data dir: %w", err)
	}
	w.onSync = opts.OnSync
	s := &Storage{wal: w, snaps: snaps, snap: snap}
	if err := s.recover(st); err != nil {
		w.close()
		return nil, err
	}
	return s, nil
}

// recover builds the in-memory log from the snapshot and the replayed WAL.
// The WAL's entries continue the snapshot only if the WAL's marker is the
// snapshot or the WAL holds the snapshot's entry; otherwise they are from a
// history the snapshot replaced (a crash between writing the snapshot file
// and its WAL marker), so they are dropped and the marker is written now.
// Nothing is written before the state is known to be whole: a committed
// entry that is missing is ErrCorrupt and leaves the WAL as it was.
func (s *Storage) recover(st *walState) error {
	md := s.snap.GetMetadata()
	si, sterm := md.GetIndex(), md.GetTerm()
	ents := st.ents
	continues := st.mark == (snapMark{si, sterm}) || holdsEntry(ents, si, sterm)
	if continues {
		if len(ents) > 0 && ents[0].GetIndex() <= si {
			ents = ents[si-ents[0].GetIndex()+1:]
		}
		if len(ents) > 0 && ents[0].GetIndex() != si+1 {
			return fmt.Errorf("%w: wal resumes at entry %d after the snapshot at %d", ErrCorrupt, ents[0].GetIndex(), si)
		}
	} else {
		ents = nil
	}
	last := si + uint64(len(ents))
	hs := st.hs
	if hs.GetCommit() > last {
		return fmt.Errorf("%w: committed entry %d is missing: the log ends at %d (snapshot at %d)", ErrCorrupt, hs.GetCommit(), last, si)
	}
	if hs.GetCommit() < si {
		hs.Commit = proto.Uint64(si) // raft requires commit >= snapshot index
	}
	if !continues {
		if err := s.wal.saveSnapshot(si, sterm); err != nil {
			return err
		}
	}
	s.hs = hs
	s.ents = make([]*raftpb.Entry, 0, 1+len(ents))
	s.ents = append(s.ents, dummyEntry(si, sterm))
	s.ents = append(s.ents, ents...)
	return nil
}

// holdsEntry reports whether ents holds the entry at index with term.
func holdsEntry(ents []*raftpb.Entry, index, term uint64) bool {
	if len(ents) == 0 || index < ents[0].GetIndex() {
		return false
	}
	i := index - ents[0].GetIndex()
	return i < uint64(len(ents)) && ents[i].GetTerm() == term
}

func dummyEntry(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term)}
}

// InitialState implements raft.Storage: the last hard state and the
// snapshot's ConfState.
func (s *Storage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := proto.Clone(s.hs).(*raftpb.HardState)
	cs := proto.Clone(raftpb.EnsureConfState(s.snap.GetMetadata().GetConfState())).(*raftpb.ConfState)
	return hs, cs, nil
}

// Entries implements raft.Storage. It returns the entries in [lo, hi), at
// least one, and no more than fit in maxSize bytes. The slice is the
// caller's; the entries are shared and must not be mutated.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	offset := s.ents[0].GetIndex()
	if lo <= offset {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex()+1 || lo > hi || len(s.ents) == 1 {
		return nil, raft.ErrUnavailable
	}
	ents := s.ents[lo-offset : hi-offset]
	n := 0
	var size uint64
	for ; n < len(ents); n++ {
		size += uint64(proto.Size(ents[n]))
		if n > 0 && size > maxSize {
			break
		}
	}
	return append([]*raftpb.Entry(nil), ents[:n]...), nil
}

// Term implements raft.Storage: the term of entry i, for i in
// [FirstIndex()-1, LastIndex()].
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	offset := s.ents[0].GetIndex()
	if i < offset {
		return 0, raft.ErrCompacted
	}
	if i > s.lastIndex() {
		return 0, raft.ErrUnavailable
	}
	return s.ents[i-offset].GetTerm(), nil
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastIndex(), nil
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ents[0].GetIndex() + 1, nil
}

func (s *Storage) lastIndex() uint64 {
	return s.ents[0].GetIndex() + uint64(len(s.ents)) - 1
}

// Snapshot implements raft.Storage: a copy of the most recent snapshot.
func (s *Storage) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.snap).(*raftpb.Snapshot), nil
}

// Save persists ents and hs with one sync, then makes them visible to the
// raft.Storage methods. hs may be nil or empty (not written). An entry with
// index i replaces every entry >= i; entries below FirstIndex are already
// compacted and skipped. A write or sync error is sticky: every later write
// fails, and the caller must stop.
func (s *Storage) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	return s.save(hs, ents, true)
}

// SaveUnsynced is Save without the fsync, for a raft Ready whose MustSync is
// false: only the commit index changed. A crash may lose the record, and with
// it only commit progress, which raft learns again from the leader.
func (s *Storage) SaveUnsynced(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	return s.save(hs, ents, false)
}

func (s *Storage) save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.mu.Lock()
	ents, err := s.checkAppend(ents)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.wal.save(hs, ents, sync); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ents) > 0 {
		// The full slice expression makes a conflicting append copy instead
		// of overwriting entries a reader may still hold.
		offset := ents[0].GetIndex() - s.ents[0].GetIndex()
		s.ents = append(s.ents[:offset:offset], ents...)
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	return nil
}

// checkAppend drops the entries of ents that are already compacted and checks
// that the rest are consecutive and leave no gap after the log.
func (s *Storage) checkAppend(ents []*raftpb.Entry) ([]*raftpb.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
			return nil, fmt.Errorf("txlog: entry %d follows entry %d in one append", ents[i].GetIndex(), ents[i-1].GetIndex())
		}
	}
	first, last := s.ents[0].GetIndex()+1, s.lastIndex()
	if ents[len(ents)-1].GetIndex() < first {
		return nil, nil
	}
	if i := ents[0].GetIndex(); i < first {
		ents = ents[first-i:]
	}
	if i := ents[0].GetIndex(); i > last+1 {
		return nil, fmt.Errorf("txlog: append at entry %d leaves a gap after entry %d", i, last)
	}
	return ents, nil
}

// ApplySnapshot persists a snapshot received from the leader and resets the
// log to it: the snapshot file first, then a WAL marker, then old WAL
// segments are released. It returns raft.ErrSnapOutOfDate unless snap is
// newer than the current snapshot.
func (s *Storage) ApplySnapshot(snap *raftpb.Snapshot) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	snap = raftpb.EnsureSnapshot(proto.Clone(snap).(*raftpb.Snapshot))
	md := snap.GetMetadata()
	s.mu.Lock()
	cur := s.snap.GetMetadata().GetIndex()
	s.mu.Unlock()
	if md.GetIndex() <= cur {
		return raft.ErrSnapOutOfDate
	}
	if err := s.snaps.save(snap); err != nil {
		return err
	}
	if err := s.wal.saveSnapshot(md.GetIndex(), md.GetTerm()); err != nil {
		return err
	}
	s.mu.Lock()
	s.snap = snap
	s.ents = []*raftpb.Entry{dummyEntry(md.GetIndex(), md.GetTerm())}
	s.mu.Unlock()
	s.snaps.prune() // best effort: retried after the next snapshot
	return s.wal.releaseTo(md.GetIndex() + 1)
}

// CreateSnapshot records the state machine at applied index i, with cs (the
// current snapshot's ConfState if nil) and data, in a snapshot file, and
// returns the snapshot. data is retained and must not be modified. It returns
// raft.ErrSnapOutOfDate unless i is above the current snapshot's index.
func (s *Storage) CreateSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.mu.Lock()
	offset, last := s.ents[0].GetIndex(), s.lastIndex()
	if i <= s.snap.GetMetadata().GetIndex() {
		s.mu.Unlock()
		return nil, raft.ErrSnapOutOfDate
	}
	if i < offset {
		s.mu.Unlock()
		return nil, raft.ErrCompacted
	}
	if i > last {
		s.mu.Unlock()
		return nil, fmt.Errorf("txlog: snapshot at %d is beyond the last entry %d", i, last)
	}
	if cs == nil {
		cs = s.snap.GetMetadata().GetConfState()
	}
	snap := &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(i),
			Term:      proto.Uint64(s.ents[i-offset].GetTerm()),
			ConfState: raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState)),
		},
	}
	s.mu.Unlock()
	if err := s.snaps.save(snap); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
	s.snaps.prune() // best effort: retried after the next snapshot
	return proto.Clone(snap).(*raftpb.Snapshot), nil
}

// Compact discards the in-memory entries before compactIndex, keeping the
// index and term of compactIndex so that Term(FirstIndex()-1) stays valid,
// and releases the WAL segments no longer needed: those before
// min(compactIndex, snapshot index), so that a restart from the snapshot
// file still finds every later entry. It returns raft.ErrCompacted if
// compactIndex is not above FirstIndex()-1.
func (s *Storage) Compact(compactIndex uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.mu.Lock()
	offset, last := s.ents[0].GetIndex(), s.lastIndex()
	if compactIndex <= offset {
		s.mu.Unlock()
		return raft.ErrCompacted
	}
	if compactIndex > last {
		s.mu.Unlock()
		return fmt.Errorf("txlog: compact at %d is beyond the last entry %d", compactIndex, last)
	}
	i := compactIndex - offset
	ents := make([]*raftpb.Entry, 1, uint64(len(s.ents))-i)
	ents[0] = dummyEntry(compactIndex, s.ents[i].GetTerm())
	s.ents = append(ents, s.ents[i+1:]...)
	release := min(compactIndex, s.snap.GetMetadata().GetIndex())
	s.mu.Unlock()
	return s.wal.releaseTo(release)
}

// Close closes the WAL. The read methods keep working on the in-memory log;
// the writing methods return ErrClosed.
func (s *Storage) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.wal.close()
}
