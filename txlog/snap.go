package txlog

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recSnapshot is the record type of a snapshot file: a marshaled
// raftpb.Snapshot.
const recSnapshot byte = 4

// maxSnapshotSize bounds a snapshot file's payload.
const maxSnapshotSize = 1 << 30

// keepSnapshots is how many snapshot files are kept; older ones are deleted.
const keepSnapshots = 3

// snapshotter keeps snapshot files in dir, each named %016x-%016x.snap after
// the snapshot's term and index and holding one record.
type snapshotter struct {
	dir string
}

type snapFile struct {
	term, index uint64
	name        string
}

func snapFileName(term, index uint64) string { return fmt.Sprintf("%016x-%016x.snap", term, index) }

// newSnapshotter opens dir, creating it if needed, and removes the temporary
// files of interrupted saves.
func newSnapshotter(dir string) (*snapshotter, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("txlog: create snapshot dir: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("txlog: list snapshots: %w", err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".snap.tmp") {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
				return nil, fmt.Errorf("txlog: remove unfinished snapshot: %w", err)
			}
		}
	}
	return &snapshotter{dir: dir}, nil
}

// save writes snap durably: temporary file, fsync, rename, directory fsync.
func (s *snapshotter) save(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	buf, err := appendProtoRecord(nil, recSnapshot, snap, maxSnapshotSize)
	if err != nil {
		return fmt.Errorf("txlog: snapshot at %d: %w", md.GetIndex(), err)
	}
	path := filepath.Join(s.dir, snapFileName(md.GetTerm(), md.GetIndex()))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("txlog: create snapshot: %w", err)
	}
	if _, err = f.Write(buf); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("txlog: write snapshot: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("txlog: sync snapshot dir: %w", err)
	}
	return nil
}

// load returns the newest valid snapshot, or an empty one if there is none.
// A damaged file is renamed to *.broken, kept for inspection, and the next
// newest is tried.
func (s *snapshotter) load() (*raftpb.Snapshot, error) {
	files, err := s.list()
	if err != nil {
		return nil, err
	}
	for _, sf := range files {
		path := filepath.Join(s.dir, sf.name)
		snap, err := readSnapshot(path, sf)
		if err == nil {
			return snap, nil
		}
		if !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		if err := os.Rename(path, path+".broken"); err != nil {
			return nil, fmt.Errorf("txlog: set aside broken snapshot: %w", err)
		}
	}
	return raftpb.EnsureSnapshot(nil), nil
}

func readSnapshot(path string, sf snapFile) (*raftpb.Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("txlog: read snapshot: %w", err)
	}
	typ, payload, n, err := decodeRecordMax(b, maxSnapshotSize)
	switch {
	case err != nil:
	case typ != recSnapshot:
		err = fmt.Errorf("record type %d", typ)
	case n != len(b):
		err = fmt.Errorf("%d bytes after the record", len(b)-n)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	snap := new(raftpb.Snapshot)
	if err := proto.Unmarshal(payload, snap); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	snap = raftpb.EnsureSnapshot(snap)
	if md := snap.GetMetadata(); md.GetTerm() != sf.term || md.GetIndex() != sf.index {
		return nil, fmt.Errorf("%w: %s holds the snapshot at term %d index %d", ErrCorrupt, path, md.GetTerm(), md.GetIndex())
	}
	return snap, nil
}

// prune deletes all but the newest keepSnapshots snapshot files.
func (s *snapshotter) prune() error {
	files, err := s.list()
	if err != nil || len(files) <= keepSnapshots {
		return err
	}
	for _, sf := range files[keepSnapshots:] {
		if err := os.Remove(filepath.Join(s.dir, sf.name)); err != nil {
			return fmt.Errorf("txlog: remove old snapshot: %w", err)
		}
	}
	return syncDir(s.dir)
}

// list returns the snapshot files, newest first.
func (s *snapshotter) list() ([]snapFile, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("txlog: list snapshots: %w", err)
	}
	var files []snapFile
	for _, de := range des {
		sf := snapFile{name: de.Name()}
		if _, err := fmt.Sscanf(sf.name, "%016x-%016x.snap", &sf.term, &sf.index); err != nil {
			continue
		}
		if snapFileName(sf.term, sf.index) == sf.name {
			files = append(files, sf)
		}
	}
	slices.SortFunc(files, func(a, b snapFile) int {
		return cmp.Or(cmp.Compare(b.index, a.index), cmp.Compare(b.term, a.term))
	})
	return files, nil
}
