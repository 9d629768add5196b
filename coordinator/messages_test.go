package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/participant/natsmsg"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

func natsCluster(t *testing.T, n int, url string, tune func(*Config)) *testCluster {
	return newTunedCluster(t, n, func(cfg *Config) {
		cfg.NatsURL = url
		if tune != nil {
			tune(cfg)
		}
	})
}

// waitAborted waits until the leader has applied the ABORT of id (its DONE
// is not waited for: it may land before the ABORT record, and then waits
// for the leader's periodic rescan).
func waitAborted(t *testing.T, c *testCluster, id string) {
	t.Helper()
	testwait.For(t, 10*time.Second, id+" aborted", func() bool {
		tx, ok := c.leader().coord.Applied(id)
		return ok && tx.GetState() == verdictv1.TxState_TX_STATE_ABORTED
	})
}

// checkMsgIDs checks that the stream holds, for each txid in order, want
// messages with Nats-Msg-Id txid/0 ... txid/want-1, each once.
func checkMsgIDs(t *testing.T, n *testNATS, want map[string]int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range n.msgs(t) {
		seen[m.Header.Get("Nats-Msg-Id")]++
	}
	total := 0
	for id, k := range want {
		for i := 0; i < k; i++ {
			if c := seen[fmt.Sprintf("%s/%d", id, i)]; c != 1 {
				t.Errorf("message %s/%d stored %d times, want once", id, i, c)
			}
		}
		total += k
	}
	if len(seen) != total {
		t.Errorf("stream holds message ids %v, want %d of them", seen, total)
	}
}

func TestMessagesPublishedOnceOnCommit(t *testing.T) {
	n := startNATS(t)
	c := natsCluster(t, 1, n.url, nil)
	c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()

	// A participant and three messages.
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := worksvc.Stage(tx.Context(ctx), p1.conn, "k"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tx.Publish("orders.created", []byte(fmt.Sprint("order ", i)), client.WithHeader("Order", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Messages only: no participant, still logged and published.
	tx2, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsmsg.Stage(tx2.Context(ctx), "orders.shipped", []byte("alone")); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitDecided(t, c, tx.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
	waitDecided(t, c, tx2.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
	n.waitCount(t, 4)
	checkMsgIDs(t, n, map[string]int{tx.ID(): 3, tx2.ID(): 1})
	for _, m := range n.msgs(t) {
		if id := m.Header.Get("Nats-Msg-Id"); strings.HasPrefix(id, tx.ID()+"/") {
			if m.Subject != "orders.created" || m.Header.Get("Order") != strings.TrimPrefix(id, tx.ID()+"/") {
				t.Errorf("message %s: subject %s, Order header %q", id, m.Subject, m.Header.Get("Order"))
			}
		}
	}
	waitState(t, tx.ID(), participant.TxCommitted, p1)
	// DONE drops the messages from the table.
	if got := c.leader().coord.Messages(tx.ID()); got != nil {
		t.Errorf("the table still holds %d messages of a done transaction", len(got))
	}
}

func TestMessagesNeverPublishedOnAbort(t *testing.T) {
	n := startNATS(t)
	c := natsCluster(t, 1, n.url, nil)
	c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()

	// Aborted by the initiator.
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Publish("orders.created", []byte("never")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	// Aborted by a NO vote: the participant's work is fenced before Commit.
	tx2, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := worksvc.Stage(tx2.Context(ctx), p1.conn, "k"); err != nil {
		t.Fatal(err)
	}
	if err := p1.res.Abort(ctx, tx2.ID()); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Publish("orders.created", []byte("never either")); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Commit(ctx); !errors.Is(err, client.ErrAborted) {
		t.Fatalf("Commit after a NO vote = %v, want aborted", err)
	}
	// A committed transaction afterwards: once its message is in, the
	// aborted ones' would have been too.
	tx3, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx3.Publish("orders.created", []byte("yes")); err != nil {
		t.Fatal(err)
	}
	if err := tx3.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitAborted(t, c, tx2.ID())
	waitDecided(t, c, tx3.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
	n.waitCount(t, 1)
	checkMsgIDs(t, n, map[string]int{tx3.ID(): 1})
}

// stageService is a participant's business call that stages a message
// with natsmsg.Stage under the caller's transaction.
func registerStageService(g *grpc.Server) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "verdict.test.Orders",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Create",
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BytesValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, req any) (any, error) {
					if err := natsmsg.Stage(ctx, "orders.created", req.(*wrapperspb.BytesValue).GetValue()); err != nil {
						return nil, err
					}
					return &emptypb.Empty{}, nil
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/verdict.test.Orders/Create"}, h)
			},
		}},
	}, struct{}{})
}

func createOrder(ctx context.Context, conn grpc.ClientConnInterface, data []byte) error {
	return conn.Invoke(ctx, "/verdict.test.Orders/Create", wrapperspb.Bytes(data), new(emptypb.Empty))
}

func TestMessagesStagedByParticipant(t *testing.T) {
	n := startNATS(t)
	c := natsCluster(t, 3, n.url, func(cfg *Config) { cfg.MaxStagedBytes = 1024 })
	c.leader()
	mem := participant.NewMemResource()
	p1 := startParticipantWith(t, "p1", c.endpoints(), mem, mem, registerStageService)
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()

	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := createOrder(tx.Context(ctx), p1.conn, []byte(fmt.Sprint("from p1 ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Publish("orders.created", []byte("from the initiator")); err != nil {
		t.Fatal(err)
	}
	// Beyond the limit: refused, and the transaction goes on.
	err = createOrder(tx.Context(ctx), p1.conn, make([]byte, 2000))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "1024 bytes") {
		t.Fatalf("staging past the limit = %v, want ResourceExhausted naming the limit", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitDecided(t, c, tx.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
	n.waitCount(t, 3)
	checkMsgIDs(t, n, map[string]int{tx.ID(): 3})
	// Participant messages come first, in staging order; the initiator's
	// ride with Commit.
	if ms := n.msgs(t); string(ms[2].Data) != "from the initiator" || ms[2].Header.Get("Nats-Msg-Id") != tx.ID()+"/2" {
		t.Errorf("last message %q with id %s, want the initiator's as /2", ms[2].Data, ms[2].Header.Get("Nats-Msg-Id"))
	}
}

func TestMessagesSizeLimitAtCommit(t *testing.T) {
	n := startNATS(t)
	c := natsCluster(t, 1, n.url, func(cfg *Config) { cfg.MaxStagedBytes = 1024 })
	c.leader()
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Publish("orders.created", make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Publish("orders.created", make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	err = tx.Commit(ctx)
	if !errors.Is(err, client.ErrAborted) || status.Code(errors.Unwrap(err)) != codes.ResourceExhausted || !strings.Contains(err.Error(), "limit of 1024 bytes") {
		t.Fatalf("Commit past the limit = %v, want ErrAborted for ResourceExhausted naming the limit", err)
	}
	waitAborted(t, c, tx.ID())
	if got := n.count(t); got != 0 {
		t.Fatalf("stream holds %d messages after a refused commit", got)
	}
}

func TestMessagesRefusedWithoutNATS(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Publish("orders.created", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Refused, and aborted at once: the SDK says it is aborted, and why.
	err = tx.Commit(ctx)
	if !errors.Is(err, client.ErrAborted) || !strings.Contains(err.Error(), "--nats-url") {
		t.Fatalf("Commit with messages and no NATS = %v, want ErrAborted naming --nats-url", err)
	}
	// A transaction without messages is not affected.
	if _, err := runTx(ctx, cl); err != nil {
		t.Fatal(err)
	}
}

// TestMessagesRepublishedByNewLeader stops the leader after JetStream has
// acknowledged a transaction's messages and before DONE: the new leader
// publishes them again, and the duplicate window keeps one copy of each.
func TestMessagesRepublishedByNewLeader(t *testing.T) {
	n := startNATS(t)
	crash := newCrashPoint()
	c := natsCluster(t, 3, n.url, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{AfterPublished: func(ctx context.Context, id string) bool {
			if !crash.hit(id) {
				return true
			}
			<-ctx.Done() // the leader is stopped here
			return false
		}}
	})
	lead := c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := worksvc.Stage(tx.Context(ctx), p1.conn, "k"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tx.Publish("orders.created", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	crash.arm(tx.ID())
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	crash.wait(t)
	n.waitCount(t, 3) // published and acknowledged by the first leader
	if tx, _ := lead.coord.Applied(tx.ID()); tx.GetDone() {
		t.Fatal("DONE recorded before the messages counted as delivered")
	}
	lid := lead.Node().ID()
	stopWithin(t, c, lid)

	waitDecided(t, c, tx.ID(), verdictv1.TxState_TX_STATE_COMMITTED) // the new leader re-published
	waitState(t, tx.ID(), participant.TxCommitted, p1)
	n.waitCount(t, 3)
	checkMsgIDs(t, n, map[string]int{tx.ID(): 3})
	c.start(lid, nil)
	waitDecided(t, c, tx.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
}

func TestLifecycleEvents(t *testing.T) {
	n := startNATS(t)
	sub, err := n.nc.SubscribeSync(EventSubjectPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := natsCluster(t, 1, n.url, nil)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	committed, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx, "test abort"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{committed: EventCommitted, tx.ID(): EventAborted}
	for len(want) > 0 {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for events %v: %v", want, err)
		}
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("event %s: %v", m.Data, err)
		}
		kind, ok := want[ev.TxID]
		if !ok {
			continue
		}
		if m.Subject != EventSubjectPrefix+kind || ev.Kind != kind || ev.Outcome != kind || ev.Time.IsZero() {
			t.Fatalf("event on %s = %+v, want kind %s", m.Subject, ev, kind)
		}
		if kind == EventCommitted && len(ev.Participants) != 2 {
			t.Errorf("committed event names participants %v, want p1 and p2", ev.Participants)
		}
		if kind == EventAborted && ev.Reason != "test abort" {
			t.Errorf("aborted event reason %q", ev.Reason)
		}
		delete(want, ev.TxID)
	}
	if d := c.leader().EventsDropped(); d != 0 {
		t.Errorf("%d events dropped", d)
	}
}

// TestMessagesRetriedUntilAcknowledged publishes on a subject no stream
// captures: phase 2 keeps retrying, the transaction is reported stuck (an
// event too), and once a stream captures the subject the message is
// published once and DONE follows.
func TestMessagesRetriedUntilAcknowledged(t *testing.T) {
	n := startNATS(t)
	sub, err := n.nc.SubscribeSync(EventSubjectPrefix + EventStuck)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := natsCluster(t, 1, n.url, func(cfg *Config) {
		cfg.StuckAfter = 100 * time.Millisecond
		cfg.MaxRetryBackoff = 50 * time.Millisecond
	})
	lead := c.leader()
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Publish("late.created", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no stuck event: %v", err)
	}
	var ev Event
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.TxID != tx.ID() || !strings.Contains(ev.Reason, "staged messages") {
		t.Fatalf("stuck event %s (%v), want %s stuck on its staged messages", m.Data, err, tx.ID())
	}
	got, err := lead.coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: tx.ID()})
	if err != nil || got.GetTransaction().GetDone() || !got.GetTransaction().GetStuck() || got.GetTransaction().GetStagedCount() != 1 {
		t.Fatalf("GetTransaction = %v, %v; want stuck, undone, one staged message", got, err)
	}

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	late, err := n.js.CreateStream(sctx, jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDecided(t, c, tx.ID(), verdictv1.TxState_TX_STATE_COMMITTED)
	info, err := late.Info(sctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream LATE holds %v messages (%v), want 1", info.State.Msgs, err)
	}
}
