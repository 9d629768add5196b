package coordinator

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// fillDecided logs n decided transactions without participants (nothing
// to deliver), each with a reason of reasonBytes, and waits until the node
// has applied them.
func fillDecided(t *testing.T, s *Server, n, reasonBytes int) {
	t.Helper()
	ctx := callCtx(t)
	reason := strings.Repeat("r", reasonBytes)
	for i := 0; i < n; i++ {
		id, err := txid.New()
		if err != nil {
			t.Fatal(err)
		}
		rec := engine.TestingDecision(id, verdictv1.Outcome_OUTCOME_ABORTED, nil, reason, time.Now(), time.Now())
		if err := s.coord.TestingPropose(ctx, rec, i%100 == 99 || i == n-1); err != nil {
			t.Fatal(err)
		}
	}
}

// unreadCall starts a ListTransactions call on conn that is never read:
// it sends the request and waits for the response headers (the node has
// queued its answer), counting it in served.
func unreadCall(ctx context.Context, conn *grpc.ClientConn, served *atomic.Int64) (grpc.ClientStream, error) {
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, verdictv1.Coordinator_ListTransactions_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(&verdictv1.ListTransactionsRequest{IncludeDone: true, Limit: 10000}); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	if _, err := s.Header(); err != nil {
		return nil, err
	}
	served.Add(1)
	return s, nil
}

// heapBytes is the live heap after collections (two: pooled buffers
// survive the first).
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestUnreadListCallsBoundNodeHeap: callers that start ListTransactions
// calls over a few connections and take none of the answers (a zero
// stream window) grow the node's heap by at most the documented bound:
// MaxConcurrentStreams calls per connection, each holding one answer of
// at most MaxListBytes (or a pooled buffer of pooledAnswerMax); the node
// refuses the calls beyond.
func TestUnreadListCallsBoundNodeHeap(t *testing.T) {
	for _, maxList := range []int{0, 96 << 10} {
		t.Run(fmt.Sprintf("max list bytes %d", maxList), func(t *testing.T) {
			testUnreadListCalls(t, maxList)
		})
	}
}

func testUnreadListCalls(t *testing.T, maxList int) {
	const (
		conns      = 4
		perConn    = 48
		maxStreams = 8
		txs        = 600
		reason     = 1000 // bytes: an answer without a bound would be about 650 KB
	)
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.MaxConcurrentStreams = maxStreams
		cfg.MaxListBytes = maxList
	})
	lead := c.leader()
	fillDecided(t, lead, txs, reason)
	before := heapBytes()

	raws := make([]*rawConn, conns)
	for i := range raws {
		raws[i] = dialRaw(t, lead.Addr(), 0)
		for j := 0; j < perConn; j++ {
			raws[i].call(verdictv1.Coordinator_ListTransactions_FullMethodName, &verdictv1.ListTransactionsRequest{IncludeDone: true, Limit: 10000})
		}
	}
	var answered, refused int
	testwait.For(t, 60*time.Second, "the node to answer or refuse every call", func() bool {
		answered, refused = 0, 0
		for _, r := range raws {
			a, f := r.counts()
			answered += a
			refused += f
		}
		return answered+refused == conns*perConn
	})
	grown := int64(heapBytes()) - int64(before)
	// Per call answered: its answer and its buffers; 8 MiB for the rest
	// of the process.
	bound := int64(conns*maxStreams)*int64(lead.cfg.MaxListBytes+pooledAnswerMax) + 8<<20
	t.Logf("%d unread calls answered, %d refused, over %d connections: heap grew by %.1f MiB (bound %.1f MiB)",
		answered, refused, conns, float64(grown)/(1<<20), float64(bound)/(1<<20))
	if grown > bound {
		t.Fatalf("heap grew by %d bytes for %d unread calls, more than the bound %d", grown, answered, bound)
	}
	if answered != conns*maxStreams {
		t.Fatalf("%d calls answered, want %d (%d per connection)", answered, conns*maxStreams, maxStreams)
	}
}

// TestCallsBeyondMaxConcurrentStreamsWait: a gRPC client's calls beyond
// MaxConcurrentStreams on a connection wait while earlier calls' answers
// are unread, and go ahead once one is read to its end.
func TestCallsBeyondMaxConcurrentStreamsWait(t *testing.T) {
	const (
		calls      = 12
		maxStreams = 4
	)
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.MaxConcurrentStreams = maxStreams
		cfg.MaxListBytes = 1 << 20 // answers larger than the stream window
	})
	lead := c.leader()
	fillDecided(t, lead, 300, 1000)

	ctx, cancel := context.WithCancel(context.Background())
	// The client's windows stay at 64 KiB (no BDP growth), less than an
	// answer: the rest of it stays on the node.
	cc, err := grpc.NewClient(lead.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(65535),
		grpc.WithInitialConnWindowSize(65535))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var served atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	first := make(chan grpc.ClientStream, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := unreadCall(ctx, cc, &served); err == nil {
				first <- s
			}
		}()
	}
	testwait.For(t, 60*time.Second, "the node to answer the calls it takes", func() bool { return served.Load() >= maxStreams })
	// Not served beyond the limit while the answers stay unread: checked
	// over a while, as long as the next step's waits.
	var s grpc.ClientStream
	select {
	case s = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no call answered")
	}
	if n := served.Load(); n != maxStreams {
		t.Fatalf("%d calls answered, want %d", n, maxStreams)
	}
	// Reading one to its end lets a waiting call in.
	for i := 0; ; i++ {
		if i == 2 {
			t.Fatal("an answer of more than one message")
		}
		if err := s.RecvMsg(&verdictv1.ListTransactionsResponse{}); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 30*time.Second, "a waiting call to be answered", func() bool { return served.Load() == maxStreams+1 })
}
