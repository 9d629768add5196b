package txlog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// WAL record types.
const (
	recEntry     byte = 1 // a marshaled raftpb.Entry
	recHardState byte = 2 // a marshaled raftpb.HardState
	recSnapMark  byte = 3 // a snapshot marker: index and term, uint64 little endian each
)

// defaultSegmentSize is the size past which the WAL starts a new segment.
const defaultSegmentSize = 64 << 20

// maxKeptBuffer bounds the write buffer the WAL keeps between batches.
const maxKeptBuffer = 1 << 20

// A segment is one WAL file, named %016x-%016x.wal after its sequence number
// and the index of the first entry it may hold: every live entry of the
// segments before it has a smaller index.
type segment struct {
	seq   uint64
	first uint64
}

func (s segment) name() string { return fmt.Sprintf("%016x-%016x.wal", s.seq, s.first) }

func parseSegmentName(name string) (segment, bool) {
	var s segment
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &s.seq, &s.first); err != nil {
		return segment{}, false
	}
	return s, s.name() == name
}

// snapMark is a snapshot marker: the log restarts after entry index of term.
type snapMark struct {
	index, term uint64
}

func (m snapMark) payload() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:8], m.index)
	binary.LittleEndian.PutUint64(b[8:16], m.term)
	return b
}

// wal is the write-ahead log: a directory of segments, each a sequence of
// records. An entry with index i replaces every entry >= i written before it;
// a snapshot marker discards every entry written before it. Each segment
// starts with the latest marker and hard state, so older segments are needed
// only for their entries.
//
// A wal is not safe for concurrent use; Storage serializes its writers.
type wal struct {
	dir     string
	segSize int64
	segs    []segment // oldest first; the last one is open in f
	f       *os.File
	size    int64             // bytes in f
	hs      *raftpb.HardState // last hard state written
	mark    snapMark          // last snapshot marker written
	last    uint64            // index of the last live entry, or mark.index
	buf     []byte
	err     error // first write or sync failure; every later write returns it
	// onSync, if set, is told the duration of each Save's fdatasync.
	onSync func(time.Duration)
	// fault, if set, fails every later sync with it instead of syncing
	// (Node.FailSyncs, for tests).
	fault atomic.Pointer[error]
}

// walState is what replaying the WAL recovered.
type walState struct {
	hs   *raftpb.HardState
	mark snapMark
	// ents are contiguous. The first one follows mark.index but need not be
	// mark.index+1: segments before it may have been released.
	ents []*raftpb.Entry
}

// openWAL opens the WAL in dir, creating it if needed, and replays it. A torn
// tail of the last segment is truncated away; damage anywhere else is
// ErrCorrupt.
func openWAL(dir string, segSize int64) (*wal, *walState, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("txlog: create wal dir: %w", err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, nil, err
	}
	w := &wal{dir: dir, segSize: segSize, hs: &raftpb.HardState{}}
	st := &walState{hs: &raftpb.HardState{}}
	if len(segs) == 0 {
		if err := w.cut(); err != nil {
			return nil, nil, err
		}
		return w, st, nil
	}
	var good, size int // of the last segment: its good prefix and its length
	for i, seg := range segs {
		path := filepath.Join(dir, seg.name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("txlog: read wal: %w", err)
		}
		if good, err = st.replay(path, b, i == len(segs)-1); err != nil {
			return nil, nil, err
		}
		size = len(b)
	}
	path := filepath.Join(dir, segs[len(segs)-1].name())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("txlog: open wal: %w", err)
	}
	if good < size {
		// Cut the torn tail so that appends continue after the last good record.
		err := f.Truncate(int64(good))
		if err == nil {
			err = fdatasync(f)
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("txlog: truncate torn wal tail: %w", err)
		}
	}
	w.segs, w.f, w.size = segs, f, int64(good)
	w.hs = proto.Clone(st.hs).(*raftpb.HardState)
	w.mark = st.mark
	w.last = st.mark.index
	if n := len(st.ents); n > 0 {
		w.last = st.ents[n-1].GetIndex()
	}
	return w, st, nil
}

// listSegments returns the segments in dir ordered by sequence, after removing
// the temporary files of an interrupted cut. Sequence numbers must be
// consecutive: a missing segment is ErrCorrupt.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("txlog: list wal: %w", err)
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".wal.tmp") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("txlog: remove unfinished segment: %w", err)
			}
			continue
		}
		if s, ok := parseSegmentName(name); ok {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, fmt.Errorf("%w: wal segment %d missing before %s", ErrCorrupt, segs[i-1].seq+1, segs[i].name())
		}
	}
	return segs, nil
}

// replay applies the records of one segment and returns the length of its
// good prefix. Only the last segment may end in a torn record.
func (st *walState) replay(path string, b []byte, last bool) (int, error) {
	off := 0
	for off < len(b) {
		typ, payload, n, err := decodeRecord(b[off:])
		if err == nil {
			err = st.apply(typ, payload)
		} else if last && tornTail(b[off:], n, err) {
			return off, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		off += n
	}
	return off, nil
}

// tornTail reports whether rest, which starts with a record that failed to
// decode with n and err, is the torn end of an interrupted write: a record cut
// short, a record failing its checksum with nothing after it, or zeros (a
// file extended but never written). A damaged length that only seems to run
// past the end is told apart by looking for a good record after it.
func tornTail(rest []byte, n int, err error) bool {
	if allZero(rest) {
		return true
	}
	switch {
	case errors.Is(err, errRecordChecksum):
		return n == len(rest)
	case errors.Is(err, errRecordTruncated), errors.Is(err, errRecordTooLarge):
		if len(rest) >= recordHeaderSize &&
			int64(binary.LittleEndian.Uint32(rest[0:4]))+recordHeaderSize <= int64(len(rest)) {
			return false // too large, yet all its bytes are there
		}
		return !validRecordAfter(rest)
	}
	return false
}

// validRecordAfter reports whether a well-formed WAL record starts anywhere in
// rest after its first byte.
func validRecordAfter(rest []byte) bool {
	for i := 1; i+recordHeaderSize <= len(rest); i++ {
		if t := rest[i+8]; t < recEntry || t > recSnapMark {
			continue
		}
		if _, _, _, err := decodeRecord(rest[i:]); err == nil {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (st *walState) apply(typ byte, payload []byte) error {
	switch typ {
	case recEntry:
		e := new(raftpb.Entry)
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("entry: %v", err)
		}
		return st.appendEntry(e)
	case recHardState:
		hs := new(raftpb.HardState)
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("hard state: %v", err)
		}
		st.hs = hs
	case recSnapMark:
		if len(payload) != 16 {
			return fmt.Errorf("snapshot marker of %d bytes", len(payload))
		}
		m := snapMark{binary.LittleEndian.Uint64(payload[0:8]), binary.LittleEndian.Uint64(payload[8:16])}
		// Every segment repeats the current marker; only a new one resets the log.
		if m != st.mark {
			st.mark, st.ents = m, nil
		}
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

// appendEntry adds e to the replayed log; e replaces every entry >= its index.
func (st *walState) appendEntry(e *raftpb.Entry) error {
	i := e.GetIndex()
	if i <= st.mark.index {
		return nil // covered by the snapshot
	}
	if len(st.ents) == 0 {
		st.ents = append(st.ents, e)
		return nil
	}
	first := st.ents[0].GetIndex()
	last := first + uint64(len(st.ents)) - 1
	switch {
	case i < first:
		st.ents = append(st.ents[:0], e)
	case i <= last+1:
		st.ents = append(st.ents[:i-first], e)
	default:
		return fmt.Errorf("entry %d follows entry %d", i, last)
	}
	return nil
}

// save appends ents and then hs (unless empty or unchanged) and syncs once.
// With nothing to write it does not sync.
func (w *wal) save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	if w.err != nil {
		return w.err
	}
	writeHS := !raft.IsEmptyHardState(hs) && !hardStateEqual(hs, w.hs)
	if len(ents) == 0 && !writeHS {
		return nil
	}
	if w.size >= w.segSize {
		if err := w.cut(); err != nil {
			return err
		}
	}
	buf := w.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = appendProtoRecord(buf, recEntry, e, maxRecordSize); err != nil {
			return fmt.Errorf("txlog: entry %d: %w", e.GetIndex(), err)
		}
	}
	if writeHS {
		if buf, err = appendProtoRecord(buf, recHardState, hs, maxRecordSize); err != nil {
			return err
		}
	}
	if err := w.write(buf, sync); err != nil {
		return err
	}
	if len(ents) > 0 {
		w.last = ents[len(ents)-1].GetIndex()
	}
	if writeHS {
		w.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	if cap(buf) <= maxKeptBuffer {
		w.buf = buf
	}
	return nil
}

// write appends b to the open segment and syncs it.
func (w *wal) write(b []byte, sync bool) error {
	if _, err := w.f.Write(b); err != nil {
		return w.fail(fmt.Errorf("txlog: write wal: %w", err))
	}
	if !sync {
		w.size += int64(len(b))
		return nil
	}
	start := time.Now()
	if err := w.sync(w.f); err != nil {
		return w.fail(fmt.Errorf("txlog: sync wal: %w", err))
	}
	if w.onSync != nil {
		w.onSync(time.Since(start))
	}
	w.size += int64(len(b))
	return nil
}

// saveSnapshot records that the log restarts after the snapshot at index and
// term. It starts a new segment, whose first records are the marker and the
// hard state, so every older segment can be released once index is.
func (w *wal) saveSnapshot(index, term uint64) error {
	if w.err != nil {
		return w.err
	}
	w.mark = snapMark{index, term}
	w.last = index
	return w.cut()
}

// cut starts a new segment holding the current marker and hard state. The
// segment is written to a temporary file, synced, renamed into place, and the
// directory is synced, so a crash leaves either no segment or a whole header.
func (w *wal) cut() error {
	// The old segment may end with unsynced records (SaveUnsynced); only the
	// last segment may have a torn tail, so sync it before moving on.
	if w.f != nil {
		if err := w.sync(w.f); err != nil {
			return w.fail(fmt.Errorf("txlog: sync wal segment: %w", err))
		}
	}
	if w.err != nil {
		return w.err
	}
	seg := segment{first: w.last + 1}
	if n := len(w.segs); n > 0 {
		seg.seq = w.segs[n-1].seq + 1
	}
	path := filepath.Join(w.dir, seg.name())
	tmp := path + ".tmp"
	buf := appendRecord(nil, recSnapMark, w.mark.payload())
	if !raft.IsEmptyHardState(w.hs) {
		var err error
		if buf, err = appendProtoRecord(buf, recHardState, w.hs, maxRecordSize); err != nil {
			return w.fail(err)
		}
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return w.fail(fmt.Errorf("txlog: create wal segment: %w", err))
	}
	if _, err = f.Write(buf); err == nil {
		if err = w.sync(f); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return w.fail(fmt.Errorf("txlog: create wal segment: %w", err))
	}
	if w.f != nil {
		w.f.Close() // synced above
	}
	w.f, w.size = f, int64(len(buf))
	w.segs = append(w.segs, seg)
	return nil
}

// releaseTo deletes the oldest segments all of whose live entries are below
// index: segment k goes when segment k+1 exists and starts at or below index.
// The last segment is never deleted.
func (w *wal) releaseTo(index uint64) error {
	k := -1
	for i := 0; i+1 < len(w.segs); i++ {
		if w.segs[i+1].first <= index {
			k = i
		}
	}
	if k < 0 {
		return nil
	}
	for ; k >= 0; k-- {
		// Oldest first, so that a crash leaves consecutive segments.
		if err := os.Remove(filepath.Join(w.dir, w.segs[0].name())); err != nil {
			return fmt.Errorf("txlog: release wal segment: %w", err)
		}
		w.segs = w.segs[1:]
	}
	return syncDir(w.dir)
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.err == nil {
		w.err = ErrClosed
	}
	return err
}

// sync fdatasyncs f, or fails with the injected fault.
func (w *wal) sync(f *os.File) error {
	if p := w.fault.Load(); p != nil {
		return *p
	}
	return fdatasync(f)
}

// fail makes err sticky: after a failed write or sync the state of the file
// is unknown, so the WAL refuses to write again.
func (w *wal) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

func hardStateEqual(a, b *raftpb.HardState) bool {
	return a.GetTerm() == b.GetTerm() && a.GetVote() == b.GetVote() && a.GetCommit() == b.GetCommit()
}

// syncDir fsyncs a directory so that file creations, renames and removals in
// it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
