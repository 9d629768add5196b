package participant

import (
	"errors"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/coordconn"
)

// maxCachedConns bounds the coordinator connections a Server keeps: one per
// distinct endpoint set seen in transactions (normally one). The least
// recently used is closed beyond it.
const maxCachedConns = 8

var errStopped = errors.New("verdict: participant server stopped")

// connCache holds one coordconn.Conn per set of coordinator endpoints, and
// the batcher of the enlistments sent over it.
type connCache struct {
	opts        []grpc.DialOption
	newEnlister func(*coordconn.Conn) *enlister

	mu        sync.Mutex
	conns     map[string]*coordconn.Conn
	enlisters map[string]*enlister
	order     []string // keys, least recently used first
	closed    bool
}

func newConnCache(opts []grpc.DialOption, newEnlister func(*coordconn.Conn) *enlister) *connCache {
	return &connCache{opts: opts, newEnlister: newEnlister, conns: make(map[string]*coordconn.Conn), enlisters: make(map[string]*enlister)}
}

// enlister returns the enlistment batcher for endpoints, dialing if needed.
func (c *connCache) enlister(endpoints []string) (*enlister, error) {
	if _, err := c.get(endpoints); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.enlisters[key(endpoints)]
	if !ok {
		return nil, errStopped
	}
	return e, nil
}

func key(endpoints []string) string {
	eps := slices.Clone(endpoints)
	slices.Sort(eps)
	return strings.Join(slices.Compact(eps), ",")
}

// get returns the Conn for endpoints, dialing it if needed.
func (c *connCache) get(endpoints []string) (*coordconn.Conn, error) {
	k := key(endpoints)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errStopped
	}
	if conn, ok := c.conns[k]; ok {
		c.touchLocked(k)
		return conn, nil
	}
	conn, err := coordconn.Dial(endpoints, c.opts...)
	if err != nil {
		return nil, err
	}
	if len(c.order) >= maxCachedConns {
		old := c.order[0]
		c.order = c.order[1:]
		c.conns[old].Close()
		delete(c.conns, old)
		delete(c.enlisters, old)
	}
	c.conns[k] = conn
	c.enlisters[k] = c.newEnlister(conn)
	c.order = append(c.order, k)
	return conn, nil
}

// recent returns the most recently used Conn, if any.
func (c *connCache) recent() (*coordconn.Conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.order) == 0 {
		return nil, false
	}
	return c.conns[c.order[len(c.order)-1]], true
}

func (c *connCache) touchLocked(k string) {
	i := slices.Index(c.order, k)
	c.order = append(slices.Delete(c.order, i, i+1), k)
}

func (c *connCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns, c.enlisters, c.order = nil, nil, nil
}
