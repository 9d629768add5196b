package coordinator

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// fakeListener hands out the connections sent on conns.
type fakeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn, 16), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { close(l.closed); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7400} }

// remoteConn is one end of a net.Pipe that says it comes from remote.
type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// dialFake queues a connection from ip (port port) on l and returns its
// caller's end.
func dialFake(t *testing.T, l *fakeListener, ip string, port int) net.Conn {
	t.Helper()
	node, caller := net.Pipe()
	t.Cleanup(func() { node.Close(); caller.Close() })
	l.conns <- remoteConn{Conn: node, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
	return caller
}

// acceptFrom accepts the next connection and checks it comes from port.
func acceptFrom(t *testing.T, l net.Listener, port int) net.Conn {
	t.Helper()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteAddr().(*net.TCPAddr).Port; got != port {
		t.Fatalf("accepted the connection from port %d, want %d", got, port)
	}
	return c
}

// closedByNode checks that the caller's end of a refused connection sees
// it closed.
func closedByNode(t *testing.T, caller net.Conn) {
	t.Helper()
	// A pipe whose far end is closed refuses a deadline (io.ErrClosedPipe);
	// one still open takes it, and the read below fails with a timeout.
	_ = caller.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := caller.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a refused connection: %v, want EOF", err)
	}
}

// TestHostLimitListener: a host beyond its limit has its new connections
// closed while another host's are accepted; a host's limit frees as its
// connections close (each counted once); an IPv4 address and its
// IPv4-mapped IPv6 form are one host.
func TestHostLimitListener(t *testing.T) {
	fake := newFakeListener()
	l := newHostLimitListener(fake, 2, testLogger())
	const hostA, mappedA, hostB = "10.0.0.1", "::ffff:10.0.0.1", "10.0.0.2"

	dialFake(t, fake, hostA, 1)
	dialFake(t, fake, mappedA, 2)
	refused := dialFake(t, fake, hostA, 3)
	dialFake(t, fake, hostB, 4)
	a1 := acceptFrom(t, l, 1)
	acceptFrom(t, l, 2)
	acceptFrom(t, l, 4) // host A's third was refused on the way
	closedByNode(t, refused)
	if l.connections() != 3 || l.refusedCount() != 1 {
		t.Fatalf("%d connections, %d refused; want 3 and 1", l.connections(), l.refusedCount())
	}

	a1.Close()
	a1.Close() // counted once
	if l.connections() != 2 {
		t.Fatalf("%d connections after one closed, want 2", l.connections())
	}
	dialFake(t, fake, hostA, 5)
	acceptFrom(t, l, 5)
	refused = dialFake(t, fake, mappedA, 6)
	dialFake(t, fake, hostB, 7)
	acceptFrom(t, l, 7)
	closedByNode(t, refused)
	if l.connections() != 4 || l.refusedCount() != 2 {
		t.Fatalf("%d connections, %d refused; want 4 and 2", l.connections(), l.refusedCount())
	}

	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
