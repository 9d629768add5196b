package table

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
)

// txidAt returns a UUIDv7 txid created at ms (Unix milliseconds), told apart
// from others of the same ms by seq.
func txidAt(ms int64, seq byte) string {
	var u uuid.UUID
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (8 * (5 - i)))
	}
	u[6] = 0x70
	u[8] = 0x80
	u[15] = seq
	return u.String()
}

// snapshotCopy returns a new Table restored from s's snapshot.
func snapshotCopy(t testing.TB, s *Table) *Table {
	t.Helper()
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	return restored
}

func prune(before int64) *logv1.LogRecord {
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Prune{Prune: &logv1.Prune{BeforeUnixMs: before}}}
}

func TestStatePrune(t *testing.T) {
	a, b, c, d := txidAt(1000, 1), txidAt(2000, 2), txidAt(3000, 3), txidAt(1500, 4)
	s := New()
	s.ApplyBatch(batch(
		decision(a, committed, "", "p"),
		decision(b, aborted, "no", "p"),
		decision(c, committed, "", "p"),
		decision(d, committed, "", "p"), // never done
		done(2500, a, b),
		done(3500, c),
	))
	if s.Expired(a) || s.Expired(d) {
		t.Fatal("Expired before any Prune")
	}

	// Done before 2600 and created before it: a and b go; c (done at 3500)
	// and d (undone) stay.
	s.ApplyBatch(batch(prune(2600)))
	for _, id := range []string{a, b} {
		if _, ok := s.Get(id); ok {
			t.Errorf("%s kept after prune", id)
		}
		if !s.Expired(id) {
			t.Errorf("%s not Expired after prune", id)
		}
	}
	for _, id := range []string{c, d} {
		if _, ok := s.Get(id); !ok {
			t.Errorf("%s pruned", id)
		}
	}
	if s.Expired(txidAt(2700, 9)) {
		t.Error("a txid created after the horizon reported Expired")
	}
	if !s.Expired(d) {
		t.Error("an undone txid created before the horizon is held, and Expired only matters when not held; Expired must still be true by creation time")
	}

	// An undone decision is never pruned, however old.
	s.ApplyBatch(batch(prune(10_000)))
	if _, ok := s.Get(d); !ok {
		t.Error("undone decision pruned")
	}
	if _, ok := s.Get(c); ok {
		t.Error("done decision kept past the window")
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
}

// A done transaction created after the prune time (a clock of an earlier
// leader ran ahead) blocks the ones done after it until a later Prune, so
// that every pruned transaction was created before the horizon.
func TestStatePruneStopsAtYoungTxid(t *testing.T) {
	young, old := txidAt(5000, 1), txidAt(1000, 2)
	s := New()
	s.ApplyBatch(batch(
		decision(young, committed, ""), decision(old, committed, ""),
		done(2000, young), done(2100, old),
	))
	s.ApplyBatch(batch(prune(3000)))
	if _, ok := s.Get(old); !ok {
		t.Fatal("pruned past a done transaction that did not qualify")
	}
	s.ApplyBatch(batch(prune(6000)))
	if s.Len() != 0 {
		t.Fatalf("Len = %d after the later prune, want 0", s.Len())
	}
}

// Replicas that restore a snapshot prune the same entries as replicas that
// applied the log: the snapshot keeps the order in which transactions became
// done and the horizon.
func TestStatePruneAfterRestore(t *testing.T) {
	live := New()
	var recs []*logv1.LogRecord
	for i := 0; i < 50; i++ {
		id := txidAt(int64(1000+i), byte(i))
		recs = append(recs, decision(id, committed, ""), done(int64(10_000-i*100), id))
	}
	live.ApplyBatch(batch(recs...))
	live.ApplyBatch(batch(prune(500)))
	restored := snapshotCopy(t, live)
	for _, before := range []int64{6000, 8000, 20_000} {
		live.ApplyBatch(batch(prune(before)))
		restored.ApplyBatch(batch(prune(before)))
		assertSameState(t, live, restored)
		a, _ := live.Snapshot()
		b, _ := restored.Snapshot()
		if !bytes.Equal(a, b) {
			t.Fatalf("prune(%d): snapshots differ", before)
		}
		if live.Len() != restored.Len() {
			t.Fatalf("prune(%d): live holds %d, restored %d", before, live.Len(), restored.Len())
		}
		for i := 0; i < 50; i++ {
			id := txidAt(int64(1000+i), byte(i))
			if live.Expired(id) != restored.Expired(id) {
				t.Fatalf("prune(%d): Expired(%s) differs", before, id)
			}
		}
	}
	if live.Len() != 0 {
		t.Errorf("Len = %d after the last prune, want 0", live.Len())
	}
}

// BenchmarkStateRetained measures what the table costs per retained (done)
// transaction with two participants: heap bytes (retained-B/tx) and
// snapshot bytes (snapshot-B/tx). README.md's retention section quotes them.
func BenchmarkStateRetained(b *testing.B) {
	const n = 200_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New()
		for i := range n {
			id := txidAt(int64(1_700_000_000_000+i), byte(i))
			s.ApplyBatch(batch(decision(id, committed, "", "orders", "payments"), done(1, id)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		data, err := s.Snapshot()
		if err != nil || s.Len() != n {
			b.Fatalf("len %d, err %v", s.Len(), err)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "retained-B/tx")
		b.ReportMetric(float64(len(data))/n, "snapshot-B/tx")
		runtime.KeepAlive(s)
	}
}

// A Prune computed by a clock far ahead moves the retention horizon only to
// the creation time of the newest transaction it pruned: a txid created
// after that, by any clock, is not Expired.
func TestStatePruneHorizonFollowsPruned(t *testing.T) {
	a, b := txidAt(1000, 1), txidAt(2000, 2)
	s := New()
	s.ApplyBatch(batch(
		decision(a, committed, ""), decision(b, aborted, "no"),
		done(2500, a, b),
	))
	const yearMs = 365 * 24 * 3600 * 1000
	s.ApplyBatch(batch(prune(3000 + yearMs)))
	if s.Len() != 0 {
		t.Fatalf("Len = %d, want 0", s.Len())
	}
	for _, id := range []string{a, b, txidAt(2000, 9), txidAt(1, 9)} {
		if !s.Expired(id) {
			t.Errorf("%s, created no later than the newest pruned, not Expired", id)
		}
	}
	for _, ms := range []int64{2001, 3000, 1_000_000, 3000 + yearMs - 1} {
		if id := txidAt(ms, 9); s.Expired(id) {
			t.Errorf("txid created at %d, after every pruned one, reported Expired", ms)
		}
	}

	// The horizon never moves back, and a Prune that prunes nothing does
	// not move it.
	s.ApplyBatch(batch(prune(100), prune(4000+yearMs)))
	if !s.Expired(b) || s.Expired(txidAt(2001, 9)) {
		t.Error("a Prune that pruned nothing moved the horizon")
	}

	// The horizon survives a snapshot.
	restored := snapshotCopy(t, s)
	if !restored.Expired(b) || restored.Expired(txidAt(2001, 9)) {
		t.Error("restored horizon differs")
	}
}

// LogTime is the newest time the log vouches for: its newest DONE time, or
// its newest Prune's before plus the retention.
func TestStateLogTime(t *testing.T) {
	const ret = time.Second
	s := New()
	if got := s.LogTime(ret); got != 0 {
		t.Fatalf("empty: LogTime = %d, want 0", got)
	}
	a, b := txidAt(1000, 1), txidAt(1100, 2)
	s.ApplyBatch(batch(decision(a, committed, ""), decision(b, committed, ""), done(2500, a)))
	if got := s.LogTime(ret); got != 2500 {
		t.Errorf("after DONE at 2500: LogTime = %d", got)
	}
	s.ApplyBatch(batch(prune(3000)))
	if got := s.LogTime(ret); got != 4000 {
		t.Errorf("after Prune before 3000: LogTime = %d, want 4000", got)
	}
	s.ApplyBatch(batch(done(3900, b)))
	restored := snapshotCopy(t, s)
	// The snapshot keeps b's DONE time and the horizon (a's creation).
	if got := restored.LogTime(ret); got != 3900 {
		t.Errorf("restored: LogTime = %d, want 3900", got)
	}
}

// BenchmarkHash measures one state hash (a checkpoint's cost on every
// node, paid while applying waits) over 100,000 retained transactions
// with two participants each, beside the snapshot that every
// SnapshotEntries entries already cost.
func BenchmarkHash(b *testing.B) {
	const n = 100_000
	s := New()
	for i := range n {
		id := txidAt(int64(1_700_000_000_000+i), byte(i))
		s.ApplyBatch(batch(decision(id, committed, "", "orders", "payments"), done(1, id)))
	}
	b.Run("hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Hash(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
