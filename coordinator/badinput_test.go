package coordinator

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func TestBadInput(t *testing.T) {
	c := newCluster(t, 1)
	raw := coordClient(t, c.leader().Addr())
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	unknown, _ := txid.New()
	good := &verdictv1.ParticipantRef{Name: "p1", Address: "127.0.0.1:1"}

	code := func(err error) codes.Code { return status.Code(err) }
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"commit malformed txid", func() error {
			_, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: "not-a-txid"})
			return err
		}, codes.InvalidArgument},
		{"enlist malformed txid", func() error {
			return enlistOne(ctx, raw, "x", good)
		}, codes.InvalidArgument},
		{"outcome malformed txid", func() error {
			_, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: strings.Repeat("z", 5000)})
			return err
		}, codes.InvalidArgument},
		{"outcome bad participant", func() error {
			_, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: unknown, Participants: []*verdictv1.ParticipantRef{{Name: "a b", Address: "h:1"}}})
			return err
		}, codes.InvalidArgument},
		{"outcome too many participants", func() error {
			many := make([]*verdictv1.ParticipantRef, 10_000)
			for i := range many {
				many[i] = good
			}
			_, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: unknown, Participants: many})
			return err
		}, codes.ResourceExhausted},
		{"get malformed txid", func() error {
			_, err := raw.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: ""})
			return err
		}, codes.InvalidArgument},
		{"get unknown txid", func() error {
			_, err := raw.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: unknown})
			return err
		}, codes.NotFound},
		{"enlist unknown txid", func() error {
			return enlistOne(ctx, raw, unknown, good)
		}, codes.FailedPrecondition},
		{"enlist bad participant name", func() error {
			return enlistOne(ctx, raw, unknown, &verdictv1.ParticipantRef{Name: "a b", Address: "h:1"})
		}, codes.InvalidArgument},
		{"enlist bad participant address", func() error {
			return enlistOne(ctx, raw, unknown, &verdictv1.ParticipantRef{Name: "p", Address: "nowhere"})
		}, codes.InvalidArgument},
		{"enlist names no transaction", func() error {
			_, err := raw.Enlist(ctx, &verdictv1.EnlistRequest{Participant: good})
			return err
		}, codes.InvalidArgument},
		{"enlist names too many transactions", func() error {
			ids := make([]string, 1025)
			for i := range ids {
				ids[i] = unknown
			}
			_, err := raw.Enlist(ctx, &verdictv1.EnlistRequest{Participant: good, Txids: ids})
			return err
		}, codes.ResourceExhausted},
		{"begin negative timeout", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: -1})
			return err
		}, codes.InvalidArgument},
		{"begin timeout above maximum", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: 1 << 40})
			return err
		}, codes.InvalidArgument},
		// Timeouts whose nanoseconds overflow an int64: each would wrap to a
		// deadline in the past, to the default, or to one second from now.
		{"begin timeout that wraps negative", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: 9_300_000_000_000})
			return err
		}, codes.InvalidArgument},
		{"begin timeout that wraps to zero", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: 1 << 58})
			return err
		}, codes.InvalidArgument},
		{"begin timeout that wraps to one second", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: 1<<58 + 1000})
			return err
		}, codes.InvalidArgument},
		{"begin largest timeout", func() error {
			_, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: math.MaxInt64})
			return err
		}, codes.InvalidArgument},
		{"oversized request", func() error {
			_, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: unknown, Reason: strings.Repeat("r", 5<<20)})
			return err
		}, codes.ResourceExhausted},
		{"oversized reason", func() error {
			_, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: unknown, Reason: strings.Repeat("r", 2000)})
			return err
		}, codes.InvalidArgument},
		{"too many participants", func() error {
			parts := make([]*verdictv1.ParticipantRef, 65)
			for i := range parts {
				parts[i] = &verdictv1.ParticipantRef{Name: "p" + strings.Repeat("x", i%50), Address: "h:1"}
			}
			_, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: unknown, Participants: parts})
			return err
		}, codes.ResourceExhausted},
	}
	for _, tc := range cases {
		if got := code(tc.call()); got != tc.want {
			t.Errorf("%s: code %v, want %v", tc.name, got, tc.want)
		}
	}

	// The maximum itself is accepted, with a deadline that far ahead.
	before := time.Now()
	maxBegin, err := raw.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: (10 * time.Minute).Milliseconds()})
	if err != nil {
		t.Fatalf("begin with the maximum timeout: %v", err)
	}
	if d := time.UnixMilli(maxBegin.GetDeadlineUnixMs()).Sub(before); d < 10*time.Minute-time.Second || d > 11*time.Minute {
		t.Errorf("begin with the maximum timeout: deadline %v ahead, want 10m", d)
	}
	if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: maxBegin.GetTxid()}); err != nil {
		t.Fatal(err)
	}

	// Commit of an unknown transaction is refused as aborted, never committed.
	resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: unknown})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Errorf("commit unknown = %v, %v; want ABORTED", resp, err)
	}

	// Commit after Abort answers ABORTED with the abort's reason; Abort
	// after Commit is refused.
	b, err := raw.Begin(ctx, &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: b.GetTxid(), Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	resp, err = raw.Commit(ctx, &verdictv1.CommitRequest{Txid: b.GetTxid()})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED || resp.GetReason() != "changed my mind" {
		t.Errorf("commit after abort = %v, %v; want ABORTED: changed my mind", resp, err)
	}
	if err := enlistOne(ctx, raw, b.GetTxid(), good); code(err) != codes.FailedPrecondition {
		t.Errorf("enlist after abort: %v, want FailedPrecondition", err)
	}

	// The node keeps serving, and a committed transaction cannot be aborted.
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("commit after bad input: %v", err)
	}
	if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: id}); code(err) != codes.FailedPrecondition {
		t.Errorf("abort after commit: %v, want FailedPrecondition", err)
	}
	resp, err = raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Errorf("commit after abort attempt = %v, %v; want COMMITTED", resp, err)
	}
}

// enlistOne enlists p in one transaction and returns that transaction's
// answer (or the call's error) as an error.
func enlistOne(ctx context.Context, raw verdictv1.CoordinatorClient, id string, p *verdictv1.ParticipantRef) error {
	resp, err := raw.Enlist(ctx, &verdictv1.EnlistRequest{Participant: p, Txids: []string{id}})
	if err != nil {
		return err
	}
	if r := resp.GetResults()[0]; codes.Code(r.GetCode()) != codes.OK {
		return status.Error(codes.Code(r.GetCode()), r.GetMessage())
	}
	return nil
}
