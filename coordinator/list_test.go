package coordinator

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// offsetClock is the system clock moved by an offset that a test advances;
// its timers are the system clock's.
type offsetClock struct {
	engine.Clock // the system clock (newOffsetClock)
	offset       atomic.Int64
}

func newOffsetClock() *offsetClock { return &offsetClock{Clock: engine.SystemClock()} }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestListTransactionsPages pages through decided transactions two at a
// time and sees each exactly once.
func TestListTransactionsPages(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		id, err := runTx(ctx, cl, p1, p2)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	raw := coordClient(t, c.leader().Addr())
	seen := map[string]bool{}
	after := ""
	for page := 0; page < 10; page++ {
		resp, err := raw.ListTransactions(ctx, &verdictv1.ListTransactionsRequest{IncludeDone: true, Limit: 2, AfterTxid: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range resp.GetTransactions() {
			if seen[tx.GetTxid()] {
				t.Fatalf("%s listed twice", tx.GetTxid())
			}
			seen[tx.GetTxid()] = true
		}
		if after = resp.GetNextAfterTxid(); after == "" {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d transactions, want %d", len(seen), len(want))
	}
}

// TestListTransactionsFilters lists by participant and by age, active and
// decided transactions alike, and refuses bad filters.
func TestListTransactionsFilters(t *testing.T) {
	clock := newOffsetClock()
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.Clock = clock
		// The clock jumps 2h ahead: nothing may expire or be pruned.
		cfg.DefaultTimeout, cfg.MaxTimeout, cfg.Retention = 10*time.Hour, 10*time.Hour, 10*time.Hour
	})
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	both, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	onlyP1, err := runTx(ctx, cl, p1)
	if err != nil {
		t.Fatal(err)
	}
	active := beginStaged(t, cl, p2)
	raw := coordClient(t, c.leader().Addr())
	list := func(req *verdictv1.ListTransactionsRequest) []string {
		t.Helper()
		req.IncludeDone = true
		resp, err := raw.ListTransactions(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return txids(resp.GetTransactions())
	}
	if got := list(&verdictv1.ListTransactionsRequest{Participant: "p2"}); !slices.Equal(got, []string{both, active.ID()}) {
		t.Errorf("participant p2: %v, want %v", got, []string{both, active.ID()})
	}
	// onlyP1 was a one-phase commit: listed once the log records it, with
	// a later DONE batch.
	lead := c.leader()
	testwait.For(t, 10*time.Second, "the one-phase commit recorded", func() bool {
		_, ok := lead.coord.Applied(onlyP1)
		return ok
	})
	if got := list(&verdictv1.ListTransactionsRequest{Participant: "p1", State: verdictv1.TxState_TX_STATE_COMMITTED}); !slices.Equal(got, []string{both, onlyP1}) {
		t.Errorf("participant p1, committed: %v, want %v", got, []string{both, onlyP1})
	}
	if got := list(&verdictv1.ListTransactionsRequest{OlderThanMs: time.Hour.Milliseconds()}); len(got) != 0 {
		t.Errorf("older than 1h: %v, want none", got)
	}
	clock.advance(2 * time.Hour)
	if got := list(&verdictv1.ListTransactionsRequest{OlderThanMs: time.Hour.Milliseconds(), Participant: "p2"}); !slices.Equal(got, []string{both, active.ID()}) {
		t.Errorf("older than 1h with p2, 2h later: %v", got)
	}
	for _, req := range []*verdictv1.ListTransactionsRequest{
		{OlderThanMs: -1},
		{Participant: "no spaces"},
		{AfterTxid: "x"},
	} {
		if _, err := raw.ListTransactions(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListTransactions(%v) = %v; want InvalidArgument", req, err)
		}
	}
}
