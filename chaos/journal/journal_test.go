package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/verdict-tx/verdict/participant"
)

const (
	tx1 = "0190a8b2-0000-7000-8000-000000000001"
	tx2 = "0190a8b2-0000-7000-8000-000000000002"
	tx3 = "0190a8b2-0000-7000-8000-000000000003"
)

func TestReplayAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.journal")
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{tx1, tx2, tx3} {
		if err := r.Stage(id); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := r.Prepare(ctx, tx1); v != participant.VoteYes || err != nil {
		t.Fatalf("prepare tx1 = %v, %v", v, err)
	}
	if v, _ := r.Prepare(ctx, tx2); v != participant.VoteYes {
		t.Fatalf("prepare tx2 = %v", v)
	}
	if err := r.Commit(ctx, tx2); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// A crash mid-write leaves a torn line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("12345 C " + tx1)
	f.Close()

	r, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if ids, _ := r.Prepared(ctx); len(ids) != 1 || ids[0] != tx1 {
		t.Fatalf("prepared after replay = %v, want [%s]", ids, tx1)
	}
	// tx3's work lived in memory only: it is aborted and votes no.
	if v, _ := r.Prepare(ctx, tx3); v != participant.VoteNo {
		t.Fatalf("prepare of lost work = %v, want no", v)
	}
	if err := r.Abort(ctx, tx2); !errors.Is(err, ErrViolation) {
		t.Fatalf("abort of committed = %v, want ErrViolation", err)
	}
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	var ops string
	for _, rec := range recs {
		ops += string(rec.Op)
	}
	if want := "SSSPPCAV"; ops != want {
		t.Fatalf("journal ops = %s, want %s", ops, want)
	}
}

func TestReaderSkipsPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.journal")
	if err := os.WriteFile(path, []byte("1 S "+tx1+"\n2 P "+tx1), 0o644); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(path)
	recs, err := rd.Next()
	if err != nil || len(recs) != 1 {
		t.Fatalf("first read = %v, %v; want one record", recs, err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n")
	f.Close()
	recs, err = rd.Next()
	if err != nil || len(recs) != 1 || recs[0].Op != OpPrepare {
		t.Fatalf("second read = %v, %v; want the completed prepare", recs, err)
	}
}
