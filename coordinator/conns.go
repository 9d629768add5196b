package coordinator

import (
	"sync"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/reconnect"
)

// conns keeps one long-lived gRPC connection per address, dialed on first
// use, reconnecting promptly (see internal/reconnect).
type conns struct {
	dial []grpc.DialOption

	mu sync.Mutex
	m  map[string]*grpc.ClientConn
}

func newConns(dial []grpc.DialOption) *conns {
	return &conns{dial: reconnect.DialOptions(dial), m: map[string]*grpc.ClientConn{}}
}

func (c *conns) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.m[addr]; ok {
		return conn, nil
	}
	conn, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, err
	}
	c.m[addr] = conn
	return conn, nil
}

func (c *conns) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, conn := range c.m {
		conn.Close()
		delete(c.m, addr)
	}
}
