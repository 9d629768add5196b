package coordinator

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/verdict-tx/verdict/internal/testpki"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Each limit answers ResourceExhausted with a clear message, and the node
// keeps serving: a full transaction commits after each.
func TestLimits(t *testing.T) {
	n := startNATS(t)
	c := natsCluster(t, 1, n.url, func(cfg *Config) {
		cfg.MaxRequestBytes = 64 << 10
		cfg.MaxStagedBytes = 16 << 10
		cfg.MaxParticipants = 2
		cfg.MaxOpenPerClient = 2
	})
	raw := coordClient(t, c.leader().Addr())
	p1, p2, cl := c.withParticipants()
	ctx := callCtx(t)
	serving := func(after string) {
		t.Helper()
		if _, err := runTx(ctx, cl, p1, p2); err != nil {
			t.Fatalf("after %s, a transaction failed: %v", after, err)
		}
	}
	begin := func() string {
		t.Helper()
		resp, err := raw.Begin(ctx, &verdictv1.BeginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetTxid()
	}
	abort := func(id string) {
		t.Helper()
		if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: id}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("request size", func(t *testing.T) {
		id := begin()
		_, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: id, Reason: strings.Repeat("x", 100<<10)})
		wantCode(t, "a 100 KiB request", err, codes.ResourceExhausted)
		abort(id)
		serving("an oversized request")
	})

	t.Run("participants", func(t *testing.T) {
		id := begin()
		parts := []*verdictv1.ParticipantRef{
			{Name: "a", Address: "127.0.0.1:1"}, {Name: "b", Address: "127.0.0.1:2"}, {Name: "c", Address: "127.0.0.1:3"},
		}
		for _, p := range parts[:2] {
			if err := enlistOne(ctx, raw, id, p); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, "a third participant", enlistOne(ctx, raw, id, parts[2]), codes.ResourceExhausted)
		_, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id, Participants: parts})
		wantCode(t, "a commit naming three participants", err, codes.ResourceExhausted)
		abort(id)
		serving("too many participants")
	})

	t.Run("staged bytes", func(t *testing.T) {
		id := begin()
		msg := func() []*verdictv1.StagedMessage {
			return []*verdictv1.StagedMessage{{Subject: "orders.created", Data: make([]byte, 10<<10)}}
		}
		if _, err := raw.StageMessages(ctx, &verdictv1.StageMessagesRequest{Txid: id, Messages: msg()}); err != nil {
			t.Fatal(err)
		}
		_, err := raw.StageMessages(ctx, &verdictv1.StageMessagesRequest{Txid: id, Messages: msg()})
		wantCode(t, "20 KiB staged", err, codes.ResourceExhausted)
		abort(id)
		serving("too many staged bytes")
	})

	t.Run("open transactions per client", func(t *testing.T) {
		a, b := begin(), begin()
		_, err := raw.Begin(ctx, &verdictv1.BeginRequest{})
		wantCode(t, "a third open transaction", err, codes.ResourceExhausted)
		abort(a)
		abort(begin()) // room again
		abort(b)
		serving("too many open transactions")
	})
	noViolations(t, p1, p2)
}

// Under TLS a client is its certificate's Common Name, also when a
// follower forwards its Begin: the leader counts the client, not the
// follower.
func TestLimitOpenPerClientByCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	c := tlsCluster(t, 3, ca, func(cfg *Config) { cfg.MaxOpenPerClient = 1 })
	lead, fol := c.leader(), c.follower()
	ctx := callCtx(t)
	begin := func(s *Server, cn string) error {
		_, err := verdictv1.NewCoordinatorClient(connTo(t, s.Addr(), ca.Client(t, cn), "")).Begin(ctx, &verdictv1.BeginRequest{})
		return err
	}
	if err := begin(fol, "alice"); err != nil {
		t.Fatalf("alice's first Begin, through a follower: %v", err)
	}
	wantCode(t, "alice's second Begin, at the leader", begin(lead, "alice"), codes.ResourceExhausted)
	if err := begin(fol, "bob"); err != nil {
		t.Fatalf("bob's first Begin, through a follower: %v", err)
	}
}
