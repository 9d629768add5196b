package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// link is a directed peer link: the connections node from opens to node to.
type link struct{ from, to uint64 }

// envConfig shapes an env.
type envConfig struct {
	nodes        int
	participants int
	// nodeArgs are extra flags for every coordinator node.
	nodeArgs []string
}

// env is a coordinator cluster and its participants, each a process of its
// own, with a proxy on every directed peer link.
type env struct {
	t       testing.TB
	dir     string
	crashes *crashLog

	ids     []uint64
	addrs   map[uint64]string // each node's real address (clients dial these)
	nodes   map[uint64]*proc
	proxies map[link]*proxy
	admin   map[uint64]verdictv1.AdminClient
	parts   []*part

	closeOnce sync.Once
	conns     []*grpc.ClientConn
}

// part is a participant process and the initiators' connection to it.
type part struct {
	name    string
	addr    string
	journal string
	proc    *proc
	conn    *grpc.ClientConn
}

// fastReconnect makes a connection retry a restarted process within a
// fraction of a second rather than gRPC's default backoff of 1s and more.
var fastReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 250 * time.Millisecond},
	MinConnectTimeout: time.Second,
})

// newEnv starts the processes and waits for a ready leader and listening
// participants. Everything is stopped at the test's cleanup.
func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	verdictBin, partBin := binaries(t)
	e := &env{
		t: t, dir: t.TempDir(), crashes: &crashLog{},
		addrs: map[uint64]string{}, nodes: map[uint64]*proc{},
		proxies: map[link]*proxy{}, admin: map[uint64]verdictv1.AdminClient{},
	}
	t.Cleanup(e.close)
	for i := 1; i <= cfg.nodes; i++ {
		id := uint64(i)
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		e.ids = append(e.ids, id)
		e.addrs[id] = addr
	}
	for _, from := range e.ids {
		for _, to := range e.ids {
			if from == to {
				continue
			}
			p, err := newProxy(e.addrs[to])
			if err != nil {
				t.Fatal(err)
			}
			e.proxies[link{from, to}] = p
		}
	}
	for _, id := range e.ids {
		args := []string{
			"--id", fmt.Sprint(id),
			"--peers", e.peersOf(id),
			"--data-dir", filepath.Join(e.dir, fmt.Sprintf("node%d", id)),
		}
		e.nodes[id] = &proc{
			name: fmt.Sprintf("node%d", id), bin: verdictBin,
			args:    append(args, cfg.nodeArgs...),
			logPath: filepath.Join(e.dir, fmt.Sprintf("node%d.log", id)),
			crashes: e.crashes,
		}
		cc := e.dial(e.addrs[id])
		e.admin[id] = verdictv1.NewAdminClient(cc)
	}
	for _, id := range e.ids {
		if err := e.nodes[id].start(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= cfg.participants; i++ {
		name := fmt.Sprintf("p%d", i)
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p := &part{name: name, addr: addr, journal: filepath.Join(e.dir, name+".journal")}
		p.proc = &proc{
			name: name, bin: partBin,
			args: []string{
				"--name", name, "--addr", addr, "--journal", p.journal,
				"--coordinators", strings.Join(e.endpoints(), ","),
				"--recovery-interval", "1s",
				// Every other participant votes with its enlistment.
				fmt.Sprintf("--early-vote=%t", i%2 == 0),
			},
			logPath: filepath.Join(e.dir, name+".log"),
			crashes: e.crashes,
		}
		p.conn = e.dial(addr, grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
		if err := p.proc.start(); err != nil {
			t.Fatal(err)
		}
		e.parts = append(e.parts, p)
	}
	for _, p := range e.parts {
		if err := waitListening(p.addr, 10*time.Second); err != nil {
			e.fail("participant %s: %v", p.name, err)
		}
	}
	if _, err := e.waitLeader(20*time.Second, 0); err != nil {
		e.fail("%v", err)
	}
	return e
}

// peersOf is node id's --peers: itself at its real address, every other
// node at the proxy of the link from id to it. A node also hands these
// addresses out (Begin's coordinator list, the leader hint), so participants
// and clients that follow them cross the same proxies and the same cuts.
func (e *env) peersOf(id uint64) string {
	var parts []string
	for _, other := range e.ids {
		addr := e.addrs[other]
		if other != id {
			addr = e.proxies[link{id, other}].addr()
		}
		parts = append(parts, fmt.Sprintf("%d=%s", other, addr))
	}
	return strings.Join(parts, ",")
}

// endpoints are the nodes' real addresses, for clients and participants.
func (e *env) endpoints() []string {
	var out []string
	for _, id := range e.ids {
		out = append(out, e.addrs[id])
	}
	return out
}

func (e *env) dial(addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	e.t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), fastReconnect}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.conns = append(e.conns, cc)
	return cc
}

// status asks node id for its status.
func (e *env) status(id uint64) (*verdictv1.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return e.admin[id].Status(ctx, &verdictv1.StatusRequest{})
}

// readyLeader asks every running node, except skip, for its status and
// returns the node that is the ready leader of the highest term, if any.
func (e *env) readyLeader(skip uint64) (uint64, bool) {
	var (
		mu   sync.Mutex
		best *verdictv1.StatusResponse
		wg   sync.WaitGroup
	)
	for _, id := range e.ids {
		if id == skip || !e.nodes[id].running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := e.status(id)
			if err != nil || !st.GetLeaderReady() || st.GetLeader() != st.GetId() {
				return
			}
			mu.Lock()
			if best == nil || st.GetTerm() > best.GetTerm() {
				best = st
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if best == nil {
		return 0, false
	}
	return best.GetId(), true
}

// waitLeader polls (bounded) until a node other than skip is the ready
// leader.
func (e *env) waitLeader(limit time.Duration, skip uint64) (uint64, error) {
	deadline := time.Now().Add(limit)
	for {
		if id, ok := e.readyLeader(skip); ok {
			return id, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no ready leader within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCaughtUp polls (bounded) until node id has applied what the leader
// had committed when the wait began.
func (e *env) waitCaughtUp(id uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	lead, err := e.waitLeader(limit, 0)
	if err != nil {
		return err
	}
	st, err := e.status(lead)
	if err != nil {
		return err
	}
	target := st.GetCommitIndex()
	for {
		if st, err := e.status(id); err == nil && st.GetAppliedIndex() >= target && st.GetLeader() != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node%d did not apply index %d within %v", id, target, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heal puts every link back to pass.
func (e *env) heal() {
	for _, p := range e.proxies {
		p.set(linkPass)
	}
}

// stopAll stops every process with SIGTERM, in parallel, and returns the
// errors of those that did not exit cleanly.
func (e *env) stopAll() []string {
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	procs := make([]*proc, 0, len(e.nodes)+len(e.parts))
	for _, id := range e.ids {
		procs = append(procs, e.nodes[id])
	}
	for _, p := range e.parts {
		procs = append(procs, p.proc)
	}
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// logTails returns the end of every process's log.
func (e *env) logTails(n int) string {
	var b strings.Builder
	for _, id := range e.ids {
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", e.nodes[id].name, n, e.nodes[id].tail(n))
	}
	for _, p := range e.parts {
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", p.name, n, p.proc.tail(n))
	}
	return b.String()
}

// fail stops the test, with the processes' log tails.
func (e *env) fail(format string, args ...any) {
	e.t.Helper()
	e.t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), e.logTails(40))
}

// close kills what still runs and closes connections and proxies.
func (e *env) close() {
	e.closeOnce.Do(func() {
		for _, id := range e.ids {
			_ = e.nodes[id].kill()
		}
		for _, p := range e.parts {
			_ = p.proc.kill()
		}
		for _, cc := range e.conns {
			cc.Close()
		}
		for _, p := range e.proxies {
			p.close()
		}
	})
}
