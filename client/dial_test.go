package client

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// An endpoint without a port is dialed at the coordinator's port, 7400:
// the dialer sees the port the client chose, and forwards the connection to
// a stub coordinator.
func TestDialEndpointWithoutPort(t *testing.T) {
	stub := &stubCoordinator{}
	addr := serve(t, func(g *grpc.Server) { verdictv1.RegisterCoordinatorServer(g, stub) })
	var (
		mu    sync.Mutex
		ports []string
	)
	dialer := func(ctx context.Context, target string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(target)
		mu.Lock()
		ports = append(ports, port)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	for _, ep := range []string{"localhost", "[::1]"} {
		c, err := Dial([]string{ep}, WithDialOptions(grpc.WithContextDialer(dialer), grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Begin(testContext(t)); err != nil {
			t.Errorf("%s: Begin: %v", ep, err)
		}
		c.Close()
		mu.Lock()
		for _, p := range ports {
			if p != "7400" {
				t.Errorf("%s: dialed port %s, want 7400", ep, p)
			}
		}
		ports = nil
		mu.Unlock()
	}
}
