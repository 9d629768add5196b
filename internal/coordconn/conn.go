// Package coordconn is a connection to a Verdict coordinator cluster: several
// endpoints, one of which is the Raft leader at any time. Unary calls go to
// the endpoint the Conn currently prefers and move on to the others when a
// node answers codes.Unavailable (not the leader, not ready, or down). A
// follower that forwards a call names the leader in the response header
// LeaderHeader; the Conn prefers that address from then on, dialing it if it
// is not yet one of its endpoints.
//
// Retrying on Unavailable is safe for every Coordinator and Admin method:
// Begin at worst leaves an unused transaction that the leader aborts at its
// deadline, Enlist, Abort and Commit are idempotent by transaction id, and the
// rest only read. A Commit sent again is marked as a retry
// (CommitRequest.retry, set on the caller's message): the attempt before
// may have reached a leader.
// Deciding whether a failed Commit is ambiguous is the client SDK's job, not
// this package's.
package coordconn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/reconnect"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// LeaderHeader is the response header (or trailer) by which a coordinator
// node names the client address of the current leader.
const LeaderHeader = "verdict-leader"

const (
	attemptsPerEndpoint = 2
	firstBackoff        = 5 * time.Millisecond
	maxBackoff          = 250 * time.Millisecond
	// maxLearned bounds the endpoints learned from LeaderHeader, so that a
	// misbehaving node cannot make the Conn dial without limit.
	maxLearned = 8
)

// ErrNoEndpoints is returned by Dial without a usable endpoint.
var ErrNoEndpoints = errors.New("verdict: no coordinator endpoints")

// Conn talks to a coordinator cluster given several endpoints, following the
// leader. It implements grpc.ClientConnInterface; it is safe for concurrent
// use.
type Conn struct {
	opts []grpc.DialOption

	mu      sync.Mutex
	eps     []string           // configured endpoints, then learned ones
	conns   []*grpc.ClientConn // conns[i] serves eps[i]
	learned int
	pref    int // index into eps of the preferred endpoint
	closed  bool
}

var _ grpc.ClientConnInterface = (*Conn)(nil)

// Plaintext returns opts, or, if it is empty, the options of a plaintext
// (insecure) connection: what Dial does with no options. A caller that
// adds options of its own (tracing) to its user's applies it first.
func Plaintext(opts []grpc.DialOption) []grpc.DialOption {
	if len(opts) == 0 {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return opts
}

// Dial creates a Conn over endpoints (host:port; see Endpoint: without a
// port, DefaultPort), one grpc.ClientConn each; connections are made lazily
// by gRPC, and made again promptly after a node's outage (see
// internal/reconnect). When opts is empty the connections
// use insecure (plaintext) transport credentials; otherwise opts must carry
// the transport credentials themselves.
func Dial(endpoints []string, opts ...grpc.DialOption) (*Conn, error) {
	c := &Conn{opts: reconnect.DialOptions(Plaintext(opts))}
	for _, ep := range endpoints {
		ep, err := Endpoint(ep)
		if err != nil {
			c.closeAll()
			return nil, err
		}
		if slices.Contains(c.eps, ep) {
			continue
		}
		cc, err := grpc.NewClient(ep, c.opts...)
		if err != nil {
			c.closeAll()
			return nil, fmt.Errorf("verdict: dial coordinator %s: %w", ep, err)
		}
		c.eps = append(c.eps, ep)
		c.conns = append(c.conns, cc)
	}
	if len(c.eps) == 0 {
		return nil, ErrNoEndpoints
	}
	return c, nil
}

// Coordinator returns a Coordinator client over c.
func (c *Conn) Coordinator() verdictv1.CoordinatorClient { return verdictv1.NewCoordinatorClient(c) }

// Admin returns an Admin client over c.
func (c *Conn) Admin() verdictv1.AdminClient { return verdictv1.NewAdminClient(c) }

// Endpoints returns the endpoints c knows: those given to Dial, then those
// learned from leader hints.
func (c *Conn) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.eps)
}

// Close closes every connection. Calls in progress fail.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.closeAll()
}

func (c *Conn) closeAll() error {
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// Invoke performs a unary call, following the leader and retrying on
// codes.Unavailable: each endpoint at most twice per call, with a backoff
// from 5ms doubling between attempts, for as long as ctx allows.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	idx, cc, err := c.preferred()
	if err != nil {
		return err
	}
	tried := make(map[int]int)
	backoff := firstBackoff
	for {
		var hdr, trl metadata.MD
		callOpts := append(slices.Clip(opts), grpc.Header(&hdr), grpc.Trailer(&trl))
		err := cc.Invoke(ctx, method, args, reply, callOpts...)
		tried[idx]++
		leader := leaderHint(hdr, trl)
		if err == nil || status.Code(err) != codes.Unavailable {
			if leader != "" {
				c.prefer(leader)
			} else if err == nil {
				c.preferIndex(idx)
			}
			return err
		}
		next, ok := c.next(idx, leader, tried)
		if !ok {
			return err
		}
		idx, cc = next.idx, next.cc
		markResent(args)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return status.Errorf(status.FromContextError(ctx.Err()).Code(),
				"verdict: coordinator call %s: %v (last error: %v)", method, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// markResent marks a request about to be sent again after an attempt that
// failed with Unavailable, which may have reached the leader before the
// connection broke: a Commit is sent again as a retry
// (CommitRequest.retry), so that a leader that does not know the
// transaction does not presume an abort that an earlier leader may have
// contradicted by committing it in one phase. The mark is set on the
// caller's message, which so learns that it was sent more than once.
func markResent(args any) {
	if req, ok := args.(*verdictv1.CommitRequest); ok {
		req.Retry = true
	}
}

// NewStream opens a stream to the preferred endpoint, without retries. The
// Coordinator and Admin services have no streaming methods; it exists to
// satisfy grpc.ClientConnInterface.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	_, cc, err := c.preferred()
	if err != nil {
		return nil, err
	}
	return cc.NewStream(ctx, desc, method, opts...)
}

type target struct {
	idx int
	cc  *grpc.ClientConn
}

func (c *Conn) preferred() (int, *grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, nil, status.Error(codes.Canceled, "verdict: coordinator connection closed")
	}
	return c.pref, c.conns[c.pref], nil
}

// next picks the endpoint for the next attempt after one at idx failed with
// Unavailable: the hinted leader if any and not exhausted, else the next
// endpoint in ring order that has attempts left. It becomes the preferred
// endpoint, so that concurrent and later calls skip the failed one.
func (c *Conn) next(idx int, leader string, tried map[int]int) (target, bool) {
	if leader != "" {
		if i, ok := c.indexOf(leader, true); ok && tried[i] < attemptsPerEndpoint {
			return c.preferIndex(i), true
		}
	}
	c.mu.Lock()
	n := len(c.eps)
	c.mu.Unlock()
	for k := 1; k <= n; k++ {
		i := (idx + k) % n
		if tried[i] < attemptsPerEndpoint {
			return c.preferIndex(i), true
		}
	}
	return target{}, false
}

func (c *Conn) preferIndex(i int) target {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pref = i
	return target{i, c.conns[i]}
}

func (c *Conn) prefer(addr string) {
	if i, ok := c.indexOf(addr, true); ok {
		c.preferIndex(i)
	}
}

// indexOf returns the index of addr, dialing and adding it when learn is set
// and it is unknown (up to maxLearned learned endpoints).
func (c *Conn) indexOf(addr string, learn bool) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.eps, addr); i >= 0 {
		return i, true
	}
	if !learn || c.closed || c.learned >= maxLearned {
		return 0, false
	}
	cc, err := grpc.NewClient(addr, c.opts...)
	if err != nil {
		return 0, false
	}
	c.learned++
	c.eps = append(c.eps, addr)
	c.conns = append(c.conns, cc)
	return len(c.eps) - 1, true
}

func leaderHint(mds ...metadata.MD) string {
	for _, md := range mds {
		if v := md.Get(LeaderHeader); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
