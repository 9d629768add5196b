package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/examples/orders/orderspb"
	"github.com/verdict-tx/verdict/examples/orders/service"
	"github.com/verdict-tx/verdict/internal/pgtest"
	"github.com/verdict-tx/verdict/internal/testwait"
)

// The orders test needs PostgreSQL (through pgtest, which skips it
// without one) and embeds its own nats-server.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNATS runs a JetStream server in this process (random port, temp
// store) with a stream capturing the orders' messages.
func startNATS(t *testing.T, ctx context.Context) (url string, stream jetstream.Stream) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns.ClientURL(), stream
}

// TestOrderMessageOnlyOnCommit places orders through the real coordinator
// and checks that the "order placed" message of each committed order is in
// the stream once, and that no aborted order's message ever is.
func TestOrderMessageOnlyOnCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewDatabase(t, ctx, "verdict_orders", 8)
	natsURL, stream := startNATS(t, ctx)

	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	coord, err := coordinator.Start(coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: cl.Addr().String()}, DataDir: t.TempDir(), Listener: cl,
		NatsURL: natsURL, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coord.Stop)
	endpoints := []string{coord.Addr()}

	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.Start(ctx, service.Config{Pool: pool, Listener: sl, Coordinators: endpoints, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	conn, err := grpc.NewClient(sl.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	orders := orderspb.NewOrdersClient(conn)
	c, err := client.Dial(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	place := func(id string, after func() error) error {
		return c.Run(ctx, func(ctx context.Context) error {
			if _, err := orders.Place(ctx, &orderspb.PlaceRequest{OrderId: id, Item: "book", Quantity: 1}); err != nil {
				return err
			}
			if after != nil {
				return after()
			}
			return nil
		})
	}
	// The first Place may come before the node leads: retry briefly.
	testwait.For(t, 10*time.Second, "the first order to commit", func() bool { return place("o-1", nil) == nil })
	if err := place("o-1", nil); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("placing o-1 again: %v, want AlreadyExists", err)
	}
	errChanged := errors.New("the customer changed their mind")
	if err := place("o-2", func() error { return errChanged }); !errors.Is(err, errChanged) {
		t.Fatalf("placing o-2 with an initiator that gives up: %v", err)
	}
	if err := place("o-3", nil); err != nil {
		t.Fatalf("placing o-3: %v", err)
	}

	// Messages are published in phase 2, in commit order per leader: once
	// o-3's is in, o-1's is too, and an aborted one would have been.
	testwait.For(t, 20*time.Second, "two messages in the stream", func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs >= 2
	})
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for m := range batch.Messages() {
		var p service.Placed
		if err := json.Unmarshal(m.Data(), &p); err != nil {
			t.Fatalf("message %s: %v", m.Subject(), err)
		}
		if m.Subject() != service.SubjectPrefix+p.OrderID || m.Headers().Get("Order-Id") != p.OrderID {
			t.Errorf("message on %s with Order-Id %q for order %s", m.Subject(), m.Headers().Get("Order-Id"), p.OrderID)
		}
		got[p.OrderID]++
	}
	if len(got) != 2 || got["o-1"] != 1 || got["o-3"] != 1 {
		t.Fatalf("stream holds orders %v; want o-1 and o-3 once each, nothing for the aborted o-2", got)
	}
	// The participant learns of o-3's commit in phase 2 too, maybe after
	// the message is out.
	var ids []string
	testwait.For(t, 20*time.Second, "two orders in the table", func() bool {
		rows, err := pool.Query(ctx, "SELECT id FROM orders ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return len(ids) >= 2
	})
	if len(ids) != 2 || ids[0] != "o-1" || ids[1] != "o-3" {
		t.Fatalf("orders table holds %v, want [o-1 o-3]", ids)
	}
}
