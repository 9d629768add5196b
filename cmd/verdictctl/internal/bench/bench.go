// Package bench is Verdict's closed-loop load generator, run by `verdictctl
// bench`: it starts in-memory participant services in its own process (real
// gRPC on 127.0.0.1), then runs Begin → one call to each participant (which
// enlists it) → Commit from many workers against a coordinator cluster, and
// reports throughput and latency. It is internal to verdictctl because it
// builds on the SDKs, which the module's internal/ foundations never import.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// Config is one benchmark run.
type Config struct {
	// Endpoints of the coordinator cluster.
	Endpoints []string
	// Duration of the measured run (after Warmup).
	Duration time.Duration
	// MinCommits, if not 0, makes the measured run go on past Duration
	// until that many transactions have committed in it, for at most
	// MaxDuration: a run on a busy machine then still measures something.
	MinCommits uint64
	// MaxDuration bounds a measured run that MinCommits extends; at least
	// Duration. 0 means Duration (no extension).
	MaxDuration time.Duration
	// Warmup runs before measuring; its transactions are not counted.
	Warmup time.Duration
	// Concurrency is the number of closed-loop workers.
	Concurrency int
	// Participants is the number of in-memory participant services.
	Participants int
	// TxTimeout is each transaction's timeout; 0 means the coordinator's default.
	TxTimeout time.Duration
	// Rows is how the PostgreSQL scenarios pick the row a transaction
	// updates (the same in both databases). 0: each worker has its own
	// row, so a worker's next transaction waits on that row's lock until
	// the previous one's phase 2 (COMMIT PREPARED) is done. N > 0: each
	// transaction picks one of N rows at random, and rarely waits.
	Rows int
	// PGDatabases are the two databases of the PostgreSQL scenarios, one
	// per participant, created if missing; none means DefaultPGDatabases.
	PGDatabases []string
	// BeginCall makes every transaction begin with a Begin call; without
	// it, the client begins them itself once it knows the leader's term
	// (client.WithLocalBegin).
	BeginCall bool
	// PrepareCall makes the participants vote only when the coordinator's
	// Prepare asks; without it they vote with their enlistment
	// (participant.Config.EarlyVote).
	PrepareCall bool
}

// clientOptions are the client's options of the run, with opts.
func (c *Config) clientOptions(opts ...client.Option) []client.Option {
	if !c.BeginCall {
		opts = append(opts, client.WithLocalBegin())
	}
	return opts
}

func (c *Config) validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return errors.New("bench: no coordinator endpoints")
	case c.Duration <= 0:
		return errors.New("bench: duration must be positive")
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return errors.New("bench: concurrency must be 1..10000")
	case c.Participants < 0 || c.Participants > 64:
		return errors.New("bench: participants must be 0..64")
	case c.Warmup < 0:
		return errors.New("bench: warmup must not be negative")
	case c.Rows < 0 || c.Rows > 10_000_000:
		return errors.New("bench: rows must be 0..10000000")
	case c.MaxDuration != 0 && c.MaxDuration < c.Duration:
		return errors.New("bench: max duration must be at least the duration")
	}
	return nil
}

// Result is what a run measured. Latencies are in milliseconds.
type Result struct {
	Commits       uint64  `json:"commits"`
	Aborts        uint64  `json:"aborts"`
	Errors        uint64  `json:"errors"`
	CommitsPerSec float64 `json:"commits_per_sec"`
	P50           float64 `json:"p50_ms"`
	P90           float64 `json:"p90_ms"`
	P99           float64 `json:"p99_ms"`
	P999          float64 `json:"p999_ms"`
	CommitP50     float64 `json:"commit_p50_ms"`
	CommitP99     float64 `json:"commit_p99_ms"`
	DurationSec   float64 `json:"duration_s"`
	Concurrency   int     `json:"concurrency"`
	Participants  int     `json:"participants"`
	// Violations counts atomicity violations the participants recorded
	// (a commit of an aborted transaction or the reverse); it must be 0.
	Violations int `json:"violations"`
	// Unresolved counts transactions still prepared at a participant when
	// the run gave up waiting for phase 2 to finish.
	Unresolved int `json:"unresolved"`
	// CallsPerTx is the unary gRPC calls per transaction by kind
	// ("Coordinator/Begin", "Participant/Prepare", "Work/Stage", ...),
	// over every transaction of the run (warm-up included), once phase 2
	// has finished.
	CallsPerTx   map[string]float64 `json:"calls_per_tx,omitempty"`
	ErrorSamples []string           `json:"error_samples,omitempty"`
}

// phase2Wait bounds how long a run waits, after its last transaction, for
// every participant to hear the outcome of what it prepared.
const phase2Wait = 10 * time.Second

// Run runs the benchmark.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	calls := newCallCounter()
	parts, err := startAll(cfg.Participants, func(i int) (*memParticipant, error) {
		return startParticipant(fmt.Sprintf("p%d", i+1), cfg.Endpoints, !cfg.PrepareCall, calls)
	})
	if err != nil {
		return nil, err
	}
	defer stopAll(parts)
	cl, err := client.Dial(cfg.Endpoints, cfg.clientOptions(client.WithDialOptions(
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(calls.client)))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	opts := cfg.txOptions()
	svcs := services(parts)
	var txs atomic.Uint64 // begun, warm-up included, as the calls are counted
	workers, elapsed := runWorkers(ctx, cfg, func(int) txFunc {
		return func(ctx context.Context) (time.Time, error) {
			txs.Add(1)
			return runTx(ctx, cl, svcs, nil, opts)
		}
	})
	res := &Result{Concurrency: cfg.Concurrency, Participants: cfg.Participants, Unresolved: waitResolved(ctx, parts)}
	for _, p := range parts {
		res.Violations += len(p.res.Violations())
	}
	res.collect(workers, elapsed)
	res.CallsPerTx = calls.perTx(txs.Load())
	return res, ctx.Err()
}

// txFunc runs one transaction and returns when its commit began; an error
// matching client.ErrAborted counts as an abort.
type txFunc func(ctx context.Context) (commitStart time.Time, err error)

// runWorkers runs cfg.Concurrency closed-loop workers, worker i running
// do(i) back to back, for cfg.Warmup and then cfg.Duration (or longer: see
// Config.MinCommits), and returns them with the measured time.
func runWorkers(ctx context.Context, cfg Config, do func(i int) txFunc) ([]*worker, time.Duration) {
	measure := time.Now().Add(cfg.Warmup)
	win := &window{measureFrom: measure}
	win.end.Store(measure.Add(cfg.Duration).UnixNano())
	if cfg.MinCommits > 0 && cfg.MaxDuration > cfg.Duration {
		win.end.Store(measure.Add(cfg.MaxDuration).UnixNano())
	}
	var wg sync.WaitGroup
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		w := &worker{do: do(i), win: win}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	if cfg.MinCommits > 0 && cfg.MaxDuration > cfg.Duration {
		win.closeAfter(ctx, measure.Add(cfg.Duration), cfg.MinCommits)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return workers, time.Since(measure)
	}
	return workers, time.Unix(0, win.end.Load()).Sub(measure)
}

// window is the measured part of a run, shared by its workers.
type window struct {
	measureFrom time.Time
	// end is when the run ends (Unix ns): a transaction that begins or
	// finishes after it is not counted. closeAfter may bring it forward.
	end atomic.Int64
	// commits counts the transactions committed within the window.
	commits atomic.Uint64
}

// closeAfter ends the window, once it is past minEnd, as soon as minCommits
// transactions have committed in it (or ctx ends); its end stays the upper
// bound otherwise.
func (w *window) closeAfter(ctx context.Context, minEnd time.Time, minCommits uint64) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		if now.UnixNano() >= w.end.Load() {
			return
		}
		if now.After(minEnd) && w.commits.Load() >= minCommits {
			w.end.Store(now.UnixNano())
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// collect adds up the workers' counts and latencies over a measured run of
// elapsed.
func (res *Result) collect(workers []*worker, elapsed time.Duration) {
	var all, commit histogram
	res.DurationSec = elapsed.Seconds()
	seen := map[string]bool{}
	for _, w := range workers {
		all.merge(&w.tx)
		commit.merge(&w.commit)
		res.Commits += w.commits
		res.Aborts += w.aborts
		res.Errors += w.errors
		for _, e := range w.samples {
			if !seen[e] && len(res.ErrorSamples) < 5 {
				seen[e] = true
				res.ErrorSamples = append(res.ErrorSamples, e)
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.CommitsPerSec = float64(res.Commits) / elapsed.Seconds()
	res.P50, res.P90 = ms(all.percentile(0.50)), ms(all.percentile(0.90))
	res.P99, res.P999 = ms(all.percentile(0.99)), ms(all.percentile(0.999))
	res.CommitP50, res.CommitP99 = ms(commit.percentile(0.50)), ms(commit.percentile(0.99))
}

// worker runs transactions back to back until the window ends.
type worker struct {
	do  txFunc
	win *window

	tx, commit              histogram
	commits, aborts, errors uint64
	samples                 []string
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if t0.UnixNano() > w.win.end.Load() {
			return
		}
		commitStart, err := w.do(ctx)
		done := time.Now()
		if t0.Before(w.win.measureFrom) || done.UnixNano() > w.win.end.Load() {
			continue
		}
		switch {
		case err == nil:
			w.commits++
			w.win.commits.Add(1)
			w.tx.record(done.Sub(t0))
			w.commit.record(done.Sub(commitStart))
		case errors.Is(err, client.ErrAborted):
			w.aborts++
		default:
			w.errors++
			if len(w.samples) < 5 {
				w.samples = append(w.samples, err.Error())
			}
		}
	}
}

// runTx runs one transaction (Begin, a call to each participant service
// staging key, or the transaction's id if key is nil, Commit) and returns
// when its Commit was sent.
func runTx(ctx context.Context, cl *client.Client, svcs []*service, key *string, opts []client.TxOption) (time.Time, error) {
	tx, err := cl.Begin(ctx, opts...)
	if err != nil {
		return time.Now(), fmt.Errorf("begin: %w", err)
	}
	k := tx.ID()
	if key != nil {
		k = *key
	}
	tctx := tx.Context(ctx)
	for _, p := range svcs {
		if err := worksvc.Stage(tctx, p.conn, k); err != nil {
			_ = tx.Abort(ctx, "bench: stage failed")
			return time.Now(), fmt.Errorf("stage at %s: %w", p.name, err)
		}
	}
	commitStart := time.Now()
	return commitStart, tx.Commit(ctx)
}

// txOptions are the options of every transaction of the run.
func (c *Config) txOptions() []client.TxOption {
	if c.TxTimeout > 0 {
		return []client.TxOption{client.WithTimeout(c.TxTimeout)}
	}
	return nil
}

// startAll starts n participants with start; if one fails, it stops those
// started and returns the error.
func startAll[P interface{ stop() }](n int, start func(i int) (P, error)) ([]P, error) {
	parts := make([]P, 0, n)
	for i := range n {
		p, err := start(i)
		if err != nil {
			stopAll(parts)
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func stopAll[P interface{ stop() }](parts []P) {
	for _, p := range parts {
		p.stop()
	}
}

// services are the participant services of parts, for runTx.
func services[P interface{ svc() *service }](parts []P) []*service {
	out := make([]*service, len(parts))
	for i, p := range parts {
		out[i] = p.svc()
	}
	return out
}

// memParticipant is an in-memory participant service in this process.
type memParticipant struct {
	service
	res *participant.MemResource
}

// service is a participant service this process serves, and the
// connection its benchmark calls go through.
type service struct {
	name string
	srv  *participant.Server // nil for the floor's services
	g    *grpc.Server
	conn *grpc.ClientConn
}

// startParticipant starts an in-memory participant service, voting with
// its enlistment if earlyVote; calls counts the calls it receives and
// those it makes to the coordinators.
func startParticipant(name string, coordinators []string, earlyVote bool, calls *callCounter) (*memParticipant, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	res := participant.NewMemResource()
	res.KeepHistory(false)
	srv, err := participant.NewServer(participant.Config{
		Name: name, Address: l.Addr().String(), Resource: res, Coordinators: coordinators, EarlyVote: earlyVote,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(calls.client)},
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(calls.server, srv.UnaryServerInterceptor()), grpc.NumStreamWorkers(64))
	srv.Register(g)
	worksvc.Register(g, res)
	go g.Serve(l)
	conn, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		g.Stop()
		return nil, err
	}
	return &memParticipant{service: service{name: name, srv: srv, g: g, conn: conn}, res: res}, nil
}

// waitResolved waits (bounded by phase2Wait) until no participant holds a
// prepared transaction, and returns how many still do.
func waitResolved(ctx context.Context, parts []*memParticipant) int {
	deadline := time.Now().Add(phase2Wait)
	for {
		held := 0
		for _, p := range parts {
			prepared, _, _ := p.res.Counts()
			held += prepared
		}
		if held == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			return held
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *service) svc() *service { return p }

func (p *service) stop() {
	p.conn.Close()
	done := make(chan struct{})
	go func() {
		p.g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		p.g.Stop()
	}
	if p.srv != nil { // nil for the floor's services
		p.srv.Stop()
	}
}
