package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// cluster check: three nodes that applied the same log agree; a node whose
// table went wrong behind the log's back (it skipped applying one entry)
// is named, with the checkpoint since which it differs, and the exit code
// says so.
func TestClusterCheck(t *testing.T) {
	// Once corrupt names a node (a follower), it skips the next entry that
	// holds a decision (and no checkpoint).
	var corrupt atomic.Uint64
	c := startClusterWith(t, 3, func(cfg *coordinator.Config) {
		id := cfg.ID
		cfg.StateCheckInterval = 200 * time.Millisecond
		cfg.TestingKnobs = &engine.TestingKnobs{SkipApply: func(_ uint64, b *logv1.LogBatch) bool {
			decision := false
			for _, r := range b.GetRecords() {
				if r.GetCheckpoint() != nil {
					return false
				}
				decision = decision || r.GetDecision() != nil
			}
			return decision && corrupt.CompareAndSwap(id, 0)
		}}
	})
	lead := c.leader()
	bad := uint64(1)
	if bad == lead {
		bad = 2
	}
	ep := "--endpoints=" + c.peers[lead]
	coord := coordinatorClient(t, c.peers[lead])
	commit := func() {
		t.Helper()
		ctx := context.Background()
		b, err := coord.Begin(ctx, &verdictv1.BeginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := coord.Commit(ctx, &verdictv1.CommitRequest{Txid: b.GetTxid(), Participants: []*verdictv1.ParticipantRef{}}); err != nil {
			t.Fatal(err)
		}
	}
	// abort aborts a new transaction and waits until its ABORT record is
	// applied at the leader: in an entry of its own, before any checkpoint.
	abort := func() {
		t.Helper()
		ctx := context.Background()
		b, err := coord.Begin(ctx, &verdictv1.BeginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := coord.Abort(ctx, &verdictv1.AbortRequest{Txid: b.GetTxid()}); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "the ABORT record applied", func() bool {
			resp, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: b.GetTxid()})
			return err == nil && resp.GetTransaction().GetDecidedUnixMs() != 0
		})
	}
	commit()
	abort()
	code, out, errs := ctl(t, "cluster", "check", ep, "--timeout", "20s")
	if code != exitOK || !strings.Contains(out, "consistent: every member holds the same state") {
		t.Fatalf("cluster check of a healthy cluster: exit %d\n%s%s", code, out, errs)
	}
	var healthy checkReport
	if code, out, _ = ctl(t, "cluster", "check", ep, "--timeout", "20s", "-o", "json"); code != exitOK || json.Unmarshal([]byte(out), &healthy) != nil {
		t.Fatalf("cluster check -o json of a healthy cluster: exit %d\n%s", code, out)
	}

	// The follower skips the entry of the next ABORT record, unless the
	// leader's own check put a checkpoint in the same entry: then it
	// skips nothing, and another abort is tried.
	corrupt.Store(bad)
	for i := 0; ; i++ {
		if i == 5 {
			t.Fatal("the follower skipped no entry after 5 aborts")
		}
		abort()
		if testwait.Until(5*time.Second, func() bool { return corrupt.Load() == 0 }) {
			break
		}
	}
	code, out, errs = ctl(t, "cluster", "check", ep, "--timeout", "20s", "-o", "json")
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("cluster check -o json: %v\n%s%s", err, out, errs)
	}
	if code != exitFailure || rep.Consistent {
		t.Fatalf("cluster check with node %d corrupted: exit %d, consistent %v", bad, code, rep.Consistent)
	}
	for _, n := range rep.Nodes {
		want := "agrees"
		if n.ID == bad {
			want = "differs"
		}
		if n.Result != want {
			t.Errorf("node %d: %q, want %q (%+v)", n.ID, n.Result, want, n)
		}
		// Since is a checkpoint after the consistent one: the new one,
		// or one the leader's own check took meanwhile.
		if n.ID == bad && (n.Since <= healthy.Index || n.Since > rep.Index) {
			t.Errorf("node %d differs since %d, want a checkpoint after %d (consistent) and at most %d", bad, n.Since, healthy.Index, rep.Index)
		}
	}

	// The leader's own check marks it; cluster status says so; an
	// operator clears the mark.
	testwait.For(t, 15*time.Second, "cluster status showing the member diverged", func() bool {
		code, out, _ := ctl(t, "cluster", "status", c.endpoints(), "-o", "json")
		var st clusterStatus
		return code == exitOK && json.Unmarshal([]byte(out), &st) == nil && len(st.Diverged) == 1 && st.Diverged[0].ID == bad
	})
	_, out, _ = ctl(t, "cluster", "status", c.endpoints())
	if !strings.Contains(out, "DIVERGED since checkpoint") {
		t.Errorf("cluster status does not show the diverged member:\n%s", out)
	}
	if code, out, errs := ctl(t, "cluster", "clear-divergence", fmt.Sprint(bad), ep, "--operator", "test"); code != exitOK || !strings.Contains(out, "cleared") {
		t.Errorf("cluster clear-divergence: exit %d\n%s%s", code, out, errs)
	}
}
