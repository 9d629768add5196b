package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// coordinatorClient is a Coordinator client of the node at addr.
func coordinatorClient(t *testing.T, addr string) verdictv1.CoordinatorClient {
	t.Helper()
	conn, err := coordconn.Dial([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.Coordinator()
}

// begin begins a transaction and enlists parts in it.
func begin(t *testing.T, coord verdictv1.CoordinatorClient, parts ...*verdictv1.ParticipantRef) string {
	t.Helper()
	ctx := context.Background()
	b, err := coord.Begin(ctx, &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		resp, err := coord.Enlist(ctx, &verdictv1.EnlistRequest{Participant: p, Txids: []string{b.GetTxid()}})
		if err != nil || resp.GetResults()[0].GetCode() != 0 {
			t.Fatalf("enlist %s: %v %v", p.GetName(), resp, err)
		}
	}
	return b.GetTxid()
}

// showJSON runs tx show -o json.
func showJSON(t *testing.T, ep, id string) *verdictv1.Transaction {
	t.Helper()
	code, out, errs := ctl(t, "tx", "show", id, ep, "-o", "json")
	if code != exitOK {
		t.Fatalf("tx show: exit %d: %s", code, errs)
	}
	var tx struct {
		Done       bool `json:"done"`
		Heuristics []struct {
			Participant, Operator, Reason string
		} `json:"heuristics"`
		Timeline []struct {
			Kind, Participant, Detail string
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &tx); err != nil {
		t.Fatalf("tx show json: %v: %s", err, out)
	}
	got := &verdictv1.Transaction{Txid: id, Done: tx.Done}
	for _, h := range tx.Heuristics {
		got.Heuristics = append(got.Heuristics, &verdictv1.HeuristicResolution{Participant: h.Participant, Operator: h.Operator, Reason: h.Reason})
	}
	for _, e := range tx.Timeline {
		got.Timeline = append(got.Timeline, &verdictv1.TimelineEvent{Kind: e.Kind, Participant: e.Participant, Detail: e.Detail})
	}
	return got
}

// waitCtl runs a command until its output holds want (bounded polling).
func waitCtl(t *testing.T, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errs := ctl(t, args...)
		if code == exitOK && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: never printed %q; last exit %d, out %s, err %s", args, want, code, out, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTxOperations: list filters, the timeline of a transaction whose
// participant is gone, abort (refused once decided), forget (bad input,
// then the resolution that lets the transaction reach DONE).
func TestTxOperations(t *testing.T) {
	addr := startNode(t)
	ep := "--endpoints=" + addr
	coord := coordinatorClient(t, addr)
	ctx := context.Background()

	// A transaction whose only participant is gone: Prepare fails, the
	// transaction aborts, and the Abort of phase 2 keeps failing.
	gone := &verdictv1.ParticipantRef{Name: "gone", Address: deadEndpoint(t)}
	stuck := begin(t, coord, gone)
	if resp, err := coord.Commit(ctx, &verdictv1.CommitRequest{Txid: stuck}); err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("commit with a dead participant = %v, %v; want aborted", resp, err)
	}
	active := begin(t, coord)

	// The ABORT record is not waited for: poll until it is applied.
	out := waitCtl(t, stuck, "tx", "list", ep, "--participant", "gone", "-o", "json")
	if strings.Contains(out, active) {
		t.Errorf("tx list --participant gone: %s; want %s only", out, stuck)
	}
	code, out, errs := ctl(t, "tx", "list", ep)
	if code != exitOK || !strings.Contains(out, stuck) || !strings.Contains(out, active) {
		t.Errorf("tx list: exit %d, out %s; want both", code, out)
	}
	if code, out, _ = ctl(t, "tx", "list", ep, "--older-than", "1h"); code != exitOK || strings.Contains(out, stuck) {
		t.Errorf("tx list --older-than 1h: exit %d, out %s; want none", code, out)
	}
	if code, _, _ = ctl(t, "tx", "list", ep, "--participant", "no such name"); code != exitUsage {
		t.Errorf("tx list with a bad participant name: exit %d, want %d", code, exitUsage)
	}

	out = waitCtl(t, "abort failed", "tx", "show", stuck, ep)
	for _, want := range []string{"Timeline", "begin", "enlist", "vote", "decision", "attempt", "gone"} {
		if !strings.Contains(out, want) {
			t.Errorf("tx show lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"tx", "forget", stuck, "--participant", "gone"}, exitUsage},                         // no reason
		{[]string{"tx", "forget", stuck, "--participant", "nope", "--reason", "x"}, exitUsage},        // unknown participant
		{[]string{"tx", "forget", "not-a-uuid", "--participant", "gone", "--reason", "x"}, exitUsage}, // malformed id
		{[]string{"tx", "forget", active, "--participant", "gone", "--reason", "x"}, exitFailure},     // not decided
	} {
		if code, _, errs := ctl(t, append(tc.args, ep)...); code != tc.want || errs == "" {
			t.Errorf("%v: exit %d, err %q; want %d and a message", tc.args, code, errs, tc.want)
		}
	}

	code, out, errs = ctl(t, "tx", "abort", active, ep, "--reason", "client hung", "--operator", "alice")
	if code != exitOK || !strings.Contains(out, "aborted") || !strings.Contains(out, "alice") || !strings.Contains(out, "client hung") {
		t.Errorf("tx abort: exit %d, out %s, err %s", code, out, errs)
	}
	for _, id := range []string{active, stuck} {
		if code, _, errs = ctl(t, "tx", "abort", id, ep); code != exitFailure || !strings.Contains(errs, "already aborted") {
			t.Errorf("tx abort of a decided transaction: exit %d, err %s; want %d, already aborted", code, errs, exitFailure)
		}
	}

	code, out, errs = ctl(t, "tx", "forget", stuck, "--participant", "gone", "--reason", "host lost for good", "--operator", "alice", ep)
	if code != exitOK || !strings.Contains(out, "resolved heuristically") || !strings.Contains(out, "host lost for good") {
		t.Fatalf("tx forget: exit %d, out %s, err %s", code, out, errs)
	}
	var tx *verdictv1.Transaction
	deadline := time.Now().Add(10 * time.Second)
	for tx = showJSON(t, ep, stuck); !tx.GetDone(); tx = showJSON(t, ep, stuck) {
		if time.Now().After(deadline) {
			t.Fatal("the forgotten transaction never reached DONE")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if hs := tx.GetHeuristics(); len(hs) != 1 || hs[0].GetParticipant() != "gone" || !strings.HasPrefix(hs[0].GetOperator(), "alice from ") {
		t.Errorf("heuristics = %v", hs)
	}
	if _, out, _ = ctl(t, "tx", "show", stuck, ep); !strings.Contains(out, "resolved heuristically") || !strings.Contains(out, "Heuristic resolutions") {
		t.Errorf("tx show of the forgotten transaction:\n%s", out)
	}
	if code, _, errs = ctl(t, "tx", "forget", stuck, "--participant", "gone", "--reason", "again", ep); code != exitFailure {
		t.Errorf("tx forget of a done transaction: exit %d, err %s; want %d", code, errs, exitFailure)
	}
}
