package bench

import (
	"context"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
)

// callCounter counts the unary gRPC calls of a run by method, as the
// benchmark's participant services receive them (the coordinator's
// Prepare, Commit and Abort, and the work calls). The initiator's and the
// participants' calls to the coordinator are counted as they leave this
// process, so that together they are every call a transaction costs.
type callCounter struct {
	mu sync.Mutex
	by map[string]*atomic.Uint64
}

func newCallCounter() *callCounter { return &callCounter{by: map[string]*atomic.Uint64{}} }

func (c *callCounter) count(method string) {
	c.mu.Lock()
	n, ok := c.by[method]
	if !ok {
		n = new(atomic.Uint64)
		c.by[method] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

// server is a unary server interceptor that counts each call received.
func (c *callCounter) server(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c.count(info.FullMethod)
	return h(ctx, req)
}

// client is a unary client interceptor that counts each call sent.
func (c *callCounter) client(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.count(method)
	return invoker(ctx, method, req, reply, cc, opts...)
}

// perTx is the calls per transaction by kind (the service and method,
// without the package: "Coordinator/Begin"), over txs transactions.
func (c *callCounter) perTx(txs uint64) map[string]float64 {
	if txs == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]float64, len(c.by))
	for m, n := range c.by {
		svc, method := path.Split(m)
		svc = path.Base(svc)
		svc = svc[strings.LastIndex(svc, ".")+1:]
		out[svc+"/"+method] = float64(n.Load()) / float64(txs)
	}
	return out
}
