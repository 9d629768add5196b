package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// outcome is what an initiator learned about its transaction.
type outcome int

const (
	// outNotCommitted: the initiator never asked to commit (a Stage call
	// failed, and it aborted the transaction).
	outNotCommitted outcome = iota
	outCommitted
	outAborted
	outAmbiguous
	// outRejected: Commit failed with an error that says the coordinator
	// did not act on it.
	outRejected
)

func (o outcome) String() string {
	return [...]string{"not-committed", "committed", "aborted", "ambiguous", "rejected"}[o]
}

// txRecord is one transaction as its initiator saw it.
type txRecord struct {
	id      string
	staged  []string // participants whose Stage call succeeded
	outcome outcome
	err     string
	begin   time.Time // when Begin was called
	begun   time.Time // when Begin answered
	called  time.Time // when Commit was called (every Stage call done)
	end     time.Time // when the outcome was known
}

// loadConfig shapes a load.
type loadConfig struct {
	workers   int
	txTimeout time.Duration
}

// load runs transactions from concurrent workers: Begin, a Stage call to
// one or more participants (one makes a one-phase commit, whose initiator
// must never hear "aborted" once its participant committed), Commit. It
// records every outcome.
type load struct {
	e   *env
	cfg loadConfig
	cl  *client.Client
	// local begins transactions itself once it knows the leader's term
	// (client.WithLocalBegin); every other worker uses it.
	local *client.Client

	ctx    context.Context // canceled by halt when workers overstay
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	beginErrs atomic.Int64

	mu      sync.Mutex
	txs     []txRecord
	changed chan struct{} // closed and replaced on every record
}

func startLoad(e *env, cfg loadConfig) *load {
	e.t.Helper()
	cl, err := client.Dial(e.endpoints())
	if err != nil {
		e.t.Fatal(err)
	}
	local, err := client.Dial(e.endpoints(), client.WithLocalBegin())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{e: e, cfg: cfg, cl: cl, local: local, ctx: ctx, cancel: cancel, stop: make(chan struct{}), changed: make(chan struct{})}
	for i := range cfg.workers {
		l.wg.Add(1)
		c := cl
		if i%2 == 1 {
			c = local
		}
		go l.worker(c, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))))
	}
	e.t.Cleanup(func() {
		l.halt(0)
		cl.Close()
		local.Close()
	})
	return l
}

// halt stops starting transactions and waits for those in flight to
// finish, at most limit; then it cancels them.
func (l *load) halt(limit time.Duration) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	var err error
	select {
	case <-done:
	case <-t.C:
		err = fmt.Errorf("transactions still in flight %v after the load was halted", limit)
	}
	l.cancel()
	<-done
	return err
}

func (l *load) worker(cl *client.Client, rng *rand.Rand) {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		rec, ok := l.one(cl, rng)
		if ok {
			l.record(rec)
		}
		if !ok || rec.outcome != outCommitted {
			// Do not spin while the cluster has no leader.
			t := time.NewTimer(time.Duration(10+rng.IntN(20)) * time.Millisecond)
			select {
			case <-l.stop:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// one runs one transaction through cl; ok is false when Begin failed (no
// transaction).
func (l *load) one(cl *client.Client, rng *rand.Rand) (rec txRecord, ok bool) {
	rec.begin = time.Now()
	bctx, cancel := context.WithTimeout(l.ctx, 3*time.Second)
	tx, err := cl.Begin(bctx, client.WithTimeout(l.cfg.txTimeout))
	cancel()
	if err != nil {
		l.beginErrs.Add(1)
		return rec, false
	}
	rec.id, rec.begun = tx.ID(), time.Now()
	parts := l.e.parts
	if len(parts) > 1 {
		parts = append([]*part(nil), parts...)
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		parts = parts[:1+rng.IntN(len(parts))]
	}
	for _, p := range parts {
		sctx, cancel := context.WithTimeout(l.ctx, 3*time.Second)
		err := worksvc.Stage(tx.Context(sctx), p.conn, "k")
		cancel()
		if err != nil {
			actx, cancel := context.WithTimeout(l.ctx, 3*time.Second)
			_ = tx.Abort(actx, "chaos: stage failed")
			cancel()
			rec.outcome, rec.err, rec.end = outNotCommitted, fmt.Sprintf("stage at %s: %v", p.name, err), time.Now()
			return rec, true
		}
		rec.staged = append(rec.staged, p.name)
	}
	rec.called = time.Now()
	err = tx.Commit(l.ctx)
	rec.end = time.Now()
	switch {
	case err == nil:
		rec.outcome = outCommitted
	case errors.Is(err, client.ErrAborted):
		rec.outcome = outAborted
	case errors.Is(err, client.ErrAmbiguous):
		rec.outcome = outAmbiguous
	default:
		rec.outcome = outRejected
	}
	if err != nil {
		rec.err = err.Error()
	}
	return rec, true
}

func (l *load) record(rec txRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.txs = append(l.txs, rec)
	close(l.changed)
	l.changed = make(chan struct{})
}

// records returns every transaction recorded so far.
func (l *load) records() []txRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]txRecord(nil), l.txs...)
}

// firstCommitAfter waits (bounded) for a transaction begun after t to
// commit and returns its record: the earliest to answer.
func (l *load) firstCommitAfter(t time.Time, limit time.Duration) (txRecord, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		l.mu.Lock()
		var first txRecord
		for i := len(l.txs) - 1; i >= 0 && l.txs[i].end.After(t); i-- {
			if r := l.txs[i]; r.outcome == outCommitted && r.begin.After(t) {
				first = r
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if first.id != "" {
			return first, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return txRecord{}, fmt.Errorf("no transaction begun after the kill committed within %v", limit)
		}
	}
}
