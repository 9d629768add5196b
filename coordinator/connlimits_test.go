package coordinator

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/verdict-tx/verdict/internal/testwait"
)

// TestTooFrequentPingsGetGoAway: a caller that pings more often than
// minPingInterval is sent GOAWAY (ENHANCE_YOUR_CALM, too_many_pings).
func TestTooFrequentPingsGetGoAway(t *testing.T) {
	c := newCluster(t, 1)
	r := dialRaw(t, c.leader().Addr(), 1<<16)
	for i := 0; i < 4; i++ {
		if err := r.ping(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 30*time.Second, "GOAWAY", func() bool { return r.gotGoAway() != nil })
	if g := r.gotGoAway(); g.ErrCode != http2.ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
		t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", g.ErrCode, g.DebugData())
	}
}

// TestMaxConnectionsPerHost: beyond MaxConnectionsPerHost connections
// from one address, a new connection is closed at once (it neither waits
// nor is served), and a new one is served again once another closes.
func TestMaxConnectionsPerHost(t *testing.T) {
	const limit = 4
	c := newTunedCluster(t, 1, func(cfg *Config) { cfg.MaxConnectionsPerHost = limit })
	lead := c.leader()
	held := make([]*rawConn, limit)
	for i := range held {
		held[i] = dialRaw(t, lead.Addr(), 1<<16)
	}
	testwait.For(t, 30*time.Second, "the connections up to the limit served", func() bool {
		for _, r := range held {
			if !r.served() {
				return false
			}
		}
		return true
	})
	refusedPromptly(t, lead.Addr(), 30*time.Second)
	if n := value(t, gather(t, lead), "verdict_connections_refused_total"); n != 1 {
		t.Fatalf("verdict_connections_refused_total %v, want 1", n)
	}
	held[0].conn.Close()
	testwait.For(t, 30*time.Second, "the node to see a connection close", func() bool {
		return value(t, gather(t, lead), "verdict_connections") == limit-1
	})
	again := dialRaw(t, lead.Addr(), 1<<16)
	testwait.For(t, 30*time.Second, "a new connection served once one closed", again.served)
}

// refusedPromptly dials addr and checks that the node closes the
// connection within limit, having sent nothing (a node that serves a
// connection sends its SETTINGS at once).
func refusedPromptly(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(http2.ClientPreface)) // fails if the node closed it already
	if err := conn.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(make([]byte, 64))
	var nerr net.Error
	switch {
	case n > 0:
		t.Fatal("a connection beyond the limit served")
	case errors.As(err, &nerr) && nerr.Timeout():
		t.Fatalf("a connection beyond the limit neither served nor closed within %v", limit)
	case err == nil:
		t.Fatal("read nothing, and no error")
	}
}
