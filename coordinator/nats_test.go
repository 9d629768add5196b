package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/verdict-tx/verdict/internal/testwait"
)

// testNATS is a NATS server with JetStream embedded in the test process,
// and a stream MSGS that captures "orders.>" with a duplicate window.
type testNATS struct {
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
}

func startNATS(t testing.TB) *testNATS {
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
	n := &testNATS{url: ns.ClientURL()}
	if n.nc, err = nats.Connect(n.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.nc.Close)
	if n.js, err = jetstream.New(n.nc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.stream, err = n.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "MSGS", Subjects: []string{"orders.>"}, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// count is the number of messages the stream holds.
func (n *testNATS) count(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := n.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitCount waits (bounded) until the stream holds want messages.
func (n *testNATS) waitCount(t testing.TB, want uint64) {
	t.Helper()
	testwait.For(t, 10*time.Second, "stream message count", func() bool { return n.count(t) >= want })
	if got := n.count(t); got != want {
		t.Fatalf("stream holds %d messages, want %d", got, want)
	}
}

// msgIDs returns the Nats-Msg-Id of every message in the stream, by
// subject order of storage, and the messages themselves.
func (n *testNATS) msgs(t testing.TB) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*jetstream.RawStreamMsg
	total := n.count(t)
	for seq := uint64(1); seq <= total; seq++ {
		m, err := n.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}
