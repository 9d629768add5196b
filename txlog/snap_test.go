package txlog

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestSnapshotterEmpty(t *testing.T) {
	ss, err := newSnapshotter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ss.load()
	if err != nil || snap.GetMetadata().GetIndex() != 0 || snap.GetMetadata().GetConfState() == nil {
		t.Fatalf("load of an empty dir = %v, %v", snap, err)
	}
}

func TestSnapshotterSaveLoadPrune(t *testing.T) {
	dir := t.TempDir()
	ss, err := newSnapshotter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 5; i++ {
		if err := ss.save(testSnapshot(10*i, i, "state")); err != nil {
			t.Fatal(err)
		}
	}
	want := raftpb.EnsureSnapshot(testSnapshot(50, 5, "state"))
	if got, err := ss.load(); err != nil || !proto.Equal(got, want) {
		t.Fatalf("load = %v, %v; want %v", got, err, want)
	}
	if err := ss.prune(); err != nil {
		t.Fatal(err)
	}
	files, err := ss.list()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != keepSnapshots || files[0].index != 50 || files[keepSnapshots-1].index != 30 {
		t.Fatalf("after prune: %v, want the newest %d", files, keepSnapshots)
	}
}

func TestSnapshotterSkipsDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	ss, err := newSnapshotter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 4; i++ {
		if err := ss.save(testSnapshot(10*i, 1, "state")); err != nil {
			t.Fatal(err)
		}
	}
	// 40: bit flip; 30: cut short; 20: a valid snapshot under the wrong name.
	flipByte(t, filepath.Join(dir, snapFileName(1, 40)), 20)
	if err := os.Truncate(filepath.Join(dir, snapFileName(1, 30)), 10); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, snapFileName(1, 10)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, snapFileName(1, 20)), b, 0o640); err != nil {
		t.Fatal(err)
	}

	snap, err := ss.load()
	if err != nil || snap.GetMetadata().GetIndex() != 10 {
		t.Fatalf("load = %v, %v; want the snapshot at 10", snap, err)
	}
	for _, i := range []uint64{20, 30, 40} {
		if _, err := os.Stat(filepath.Join(dir, snapFileName(1, i)+".broken")); err != nil {
			t.Errorf("damaged snapshot %d not set aside: %v", i, err)
		}
	}
}
