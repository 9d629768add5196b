package coordinator

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// hostLimitListener serves at most max connections at once from one remote
// host (IP address). A connection beyond it is closed as soon as it is
// accepted, and Accept goes on to the next: a host at its limit never
// holds up the others, the node's peers among them.
type hostLimitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu    sync.Mutex
	hosts map[string]*hostConns // hosts with connections open

	open    atomic.Int64  // connections open
	refused atomic.Uint64 // connections closed for their host's limit
}

// hostConns are one host's open connections.
type hostConns struct {
	n int
	// warned: a refusal was logged since the host's first open connection
	// (one line per episode, not one per refused connection).
	warned bool
}

func newHostLimitListener(l net.Listener, max int, log *slog.Logger) *hostLimitListener {
	return &hostLimitListener{Listener: l, max: max, log: log, hosts: map[string]*hostConns{}}
}

// Accept returns the next connection from a host within its limit; it
// closes those from hosts at their limit on the way.
func (l *hostLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c.RemoteAddr())
		admitted, warn := l.admit(host)
		if admitted {
			l.open.Add(1)
			return &hostConn{Conn: c, l: l, host: host}, nil
		}
		c.Close()
		l.refused.Add(1)
		if warn {
			l.log.Warn("refusing connections from a host at its connection limit (--max-connections-per-host); verdict_connections_refused_total counts them", "host", host, "limit", l.max)
		}
	}
}

// admit counts a connection from host if the host is within its limit;
// warn says whether a refusal is the first of its episode.
func (l *hostLimitListener) admit(host string) (admitted, warn bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		h = &hostConns{}
		l.hosts[host] = h
	}
	if h.n >= l.max {
		warn = !h.warned
		h.warned = true
		return false, warn
	}
	h.n++
	return true, false
}

func (l *hostLimitListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[host]; h != nil {
		if h.n--; h.n <= 0 {
			delete(l.hosts, host)
		}
	}
	l.open.Add(-1)
}

// connections is the number of connections open.
func (l *hostLimitListener) connections() int { return int(l.open.Load()) }

// refusedCount is the number of connections refused for their host's limit.
func (l *hostLimitListener) refusedCount() uint64 { return l.refused.Load() }

// hostConn is an admitted connection; closing it frees its place.
type hostConn struct {
	net.Conn
	l    *hostLimitListener
	host string
	once sync.Once
}

func (c *hostConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// remoteHost names the host a connection comes from: its IP address, an
// IPv4-mapped IPv6 address in its IPv4 form; an address that holds no IP
// (a Unix socket's) as itself, so all such connections are one host.
func remoteHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	s := a.String()
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap().String()
		}
		return s
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return s
}
