package engine

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Phase-2 delivery tuning.
const (
	deliveryBatch    = 512                   // txids per Commit/Abort call
	deliveryTimeout  = 5 * time.Second       // per call
	doneFlushEvery   = 20 * time.Millisecond // DONE records are batched
	retryBackoffBase = 10 * time.Millisecond // the first backoff, doubled per failure
	// doneHoldFlushes bounds how many flushes hold back the DONE of a
	// transaction whose decision is not applied yet (an ABORT is proposed
	// without waiting, and phase 2 may finish first).
	doneHoldFlushes = 50
)

// delivery drives phase 2 on the leader: it sends each decision to its
// participants, batched per participant address, retries with exponential
// backoff and jitter (capped), and, once every participant of a transaction
// has acknowledged, appends DONE (batched, waited for by no one).
//
// A transaction whose delivery to some participant has kept failing for
// stuckAfter is stuck: it is logged once, shown by GetTransaction and
// ListTransactions, and an operator's retry skips the remaining backoff.
type delivery struct {
	deps       phase2Deps
	log        *slog.Logger
	baseRetry  time.Duration
	maxRetry   time.Duration
	stuckAfter time.Duration
	// idle is how long a sender without queued work waits for more
	// before it ends.
	idle time.Duration

	mu      sync.Mutex
	txs     map[string]*pending
	senders map[string]*sender
	done    []string
	// onePhase holds the one-phase commits acknowledged since the last
	// flush: they ride in the next DONE record (see recordOnePhase).
	onePhase []*logv1.OnePhase
	// epoch counts resets: a flush whose DONE record was not accepted puts
	// its one-phase commits back only if no leadership change came since.
	epoch uint64
	// closed is set by a reset to a node that is not the ready leader:
	// nothing is delivered or recorded until a reset opens it again, so
	// a caller that found the node ready before the reset drives no
	// phase 2 after it.
	closed bool
	// finished holds the transactions whose phase 2 completed (every
	// participant acknowledged or was resolved by hand) until their DONE
	// record is applied: what they acknowledged stays known meanwhile,
	// and a DONE proposal that was lost is proposed again on the next
	// deliver (recovery's rescan, an operator's retry).
	finished map[string]*pending
	// held counts, per txid, the flushes that held back its DONE because
	// its decision was not applied yet (see flushDone).
	held map[string]int

	// stop is the engine context's Done: delivery ends when the engine
	// stops (its goroutines are the engine's).
	stop <-chan struct{}
}

// phase2Deps is what delivery uses of the rest of the engine, and all of
// it: delivery holds no Engine. The engine builds it once
// (Engine.phase2Deps); the functions may be called from any
// goroutine.
type phase2Deps struct {
	// ctx is the engine's: cancelled when it stops, which ends delivery.
	ctx context.Context
	// clock times backoffs, idleness, the DONE flush and stuckness.
	clock Clock
	// goroutine runs f on a goroutine the engine owns; it reports false,
	// and does not run f, once the engine is stopping.
	goroutine func(f func()) bool
	// decide sends outcome o of ids to the participant at addr; nil once
	// it acknowledged all of them.
	decide func(ctx context.Context, addr string, o verdictv1.Outcome, ids []string) error
	// publish publishes the staged messages of ids: one error (nil on
	// success) per id, in order.
	publish func(ctx context.Context, ids []string) []error
	// propose appends rec to the log; with wait, it returns once rec is
	// applied (or not accepted).
	propose func(ctx context.Context, rec *logv1.LogRecord, wait bool) error
	// logNow is the log's time, which DONE records carry.
	logNow func() time.Time
	// recorded splits txids into those whose decision the log's table
	// holds and the others.
	recorded func(ids []string) (in, out []string)
	// timeline records what happens to each transaction.
	timeline phase2Timeline
	// retried counts a failed delivery of one transaction to one
	// participant (verdict_phase2_retries_total).
	retried func()
	// stuck announces that id has become stuck (a lifecycle event).
	stuck func(id string, o verdictv1.Outcome, reason string, parts []*verdictv1.ParticipantRef, now time.Time)
	// hooks inject faults in tests (TestingKnobs); nil otherwise.
	hooks *TestingKnobs
	// tracer traces each delivery, linked to the decisions it carries.
	tracer Tracer
}

// phase2Timeline is what delivery records in a transaction's timeline.
type phase2Timeline interface {
	add(id, kind, part, detail string)
	finish(id string)
}

// pending is a decided transaction whose phase 2 is not complete.
type pending struct {
	outcome verdictv1.Outcome
	// remaining maps the names of the participants that have not
	// acknowledged to the time their current run of failed deliveries
	// began (zero while none failed).
	remaining map[string]time.Time
	parts     []*verdictv1.ParticipantRef
	lastErr   string
	failed    uint32  // failed delivery attempts
	stuck     bool    // logged as stuck
	trace     SpanRef // the decision's span; nil if untraced
}

type item struct {
	txid, name string
	outcome    verdictv1.Outcome
}

// sender delivers to one participant address. Its goroutine ends once it
// has had nothing queued for delivery.idle; the next decision for that
// address starts another.
type sender struct {
	addr  string
	queue []item
	wake  chan struct{} // items were queued
	retry chan struct{} // retry now: an operator asked, or the participant answered a prepare
	// failingSince is when the current run of failed sends began (zero
	// after a success).
	failingSince time.Time
	// backoffUntil is when the backoff s waits out ends (zero while it
	// does not wait one); set once its timer runs.
	backoffUntil time.Time
}

func newDelivery(deps phase2Deps, log *slog.Logger, maxRetry, stuckAfter, idle time.Duration) *delivery {
	if deps.tracer == nil {
		deps.tracer = nopTracer{}
	}
	return &delivery{
		deps:       deps,
		log:        log,
		baseRetry:  retryBackoffBase,
		maxRetry:   maxRetry,
		stuckAfter: stuckAfter,
		idle:       idle,
		txs:        map[string]*pending{},
		finished:   map[string]*pending{},
		held:       map[string]int{},
		senders:    map[string]*sender{},
		stop:       deps.ctx.Done(),
	}
}

// deliver starts phase 2 of a decision; a transaction already being
// delivered is left alone, and one whose phase 2 completed has its DONE
// record proposed again.
func (d *delivery) deliver(id string, o verdictv1.Outcome, parts []*verdictv1.ParticipantRef) {
	d.deliverTraced(id, o, parts, nil)
}

// deliverTraced is deliver for a decision whose span is trace: each
// delivery of it links to that span.
func (d *delivery) deliverTraced(id string, o verdictv1.Outcome, parts []*verdictv1.ParticipantRef, trace SpanRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return // the next ready leader re-drives it from the log
	}
	if _, ok := d.txs[id]; ok {
		return
	}
	if _, ok := d.finished[id]; ok {
		if !slices.Contains(d.done, id) {
			d.done = append(d.done, id)
		}
		return
	}
	if len(parts) == 0 {
		d.done = append(d.done, id)
		d.deps.timeline.finish(id)
		return
	}
	p := &pending{outcome: o, remaining: make(map[string]time.Time, len(parts)), parts: parts, trace: trace}
	d.txs[id] = p
	for _, part := range parts {
		p.remaining[part.GetName()] = time.Time{}
		s := d.senderLocked(part.GetAddress())
		s.queue = append(s.queue, item{txid: id, name: part.GetName(), outcome: o})
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// recordOnePhase queues a one-phase commit for the next DONE record, so
// that the log learns it lazily: a later leader then answers COMMITTED for
// it instead of not knowing it. Lost with the leader if it dies first; see
// unknown.go for what is answered then.
func (d *delivery) recordOnePhase(id string, p *verdictv1.ParticipantRef, decided time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return // lost, as with a leader that dies
	}
	d.onePhase = append(d.onePhase, &logv1.OnePhase{Txid: id, Participant: p, DecidedUnixMs: decided.UnixMilli()})
}

func (d *delivery) senderLocked(addr string) *sender {
	s, ok := d.senders[addr]
	if !ok {
		s = &sender{addr: addr, wake: make(chan struct{}, 1), retry: make(chan struct{}, 1)}
		d.senders[addr] = s
		// Refused only while the engine stops: nothing is delivered then.
		d.deps.goroutine(func() { d.run(s) })
	}
	return s
}

// reset forgets every pending delivery: leadership changed, and the next
// ready leader re-drives phase 2 from the log. Unless ready (this node is
// the ready leader from now on), nothing is delivered until the next reset.
func (d *delivery) reset(ready bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = !ready
	d.txs = map[string]*pending{}
	d.finished = map[string]*pending{}
	d.done = nil
	d.onePhase = nil
	d.held = map[string]int{}
	d.epoch++
	for _, s := range d.senders {
		s.queue = nil
	}
}

// annotate adds what the leader knows of phase 2 to tx: acknowledgements
// (kept until DONE is applied), failed attempts, the last delivery error,
// and whether it is stuck.
func (d *delivery) annotate(tx *verdictv1.Transaction) {
	now := d.deps.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.txs[tx.GetTxid()]
	if !ok {
		if p, ok = d.finished[tx.GetTxid()]; !ok {
			return
		}
	}
	for _, part := range p.parts {
		name := part.GetName()
		if !p.waiting(name) && !table.ResolvedHeuristically(tx.GetHeuristics(), name) {
			tx.Acked = append(tx.Acked, name)
		}
	}
	tx.LastError = p.lastErr
	tx.FailedAttempts = p.failed
	if since := p.failingSince(); !since.IsZero() {
		tx.FailingSinceUnixMs = since.UnixMilli()
		tx.Stuck = now.Sub(since) >= d.stuckAfter
	}
}

// failingSince is the earliest start of a run of failures among p's
// remaining participants, zero if none is failing.
func (p *pending) failingSince() time.Time {
	var first time.Time
	for _, since := range p.remaining {
		if !since.IsZero() && (first.IsZero() || since.Before(first)) {
			first = since
		}
	}
	return first
}

// stuckIDs returns the txids of the stuck transactions, sorted.
func (d *delivery) stuckIDs() []string {
	now := d.deps.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id, p := range d.txs {
		if since := p.failingSince(); !since.IsZero() && now.Sub(since) >= d.stuckAfter {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// resolve stops waiting for participant name of id: an operator resolved
// its phase 2 heuristically. If no other participant is waited for, id is
// done.
func (d *delivery) resolve(id, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.txs[id]; ok && p.waiting(name) {
		d.settleLocked(id, p, name)
	}
}

// settleLocked stops waiting for participant name of id; once none is
// waited for, id's phase 2 is complete: DONE is due. It reports whether
// it completed id. The caller holds d.mu.
func (d *delivery) settleLocked(id string, p *pending, name string) bool {
	delete(p.remaining, name)
	if len(p.remaining) > 0 {
		return false
	}
	delete(d.txs, id)
	d.finished[id] = p
	d.done = append(d.done, id)
	d.deps.timeline.finish(id)
	return true
}

// completed reports whether id's phase 2 completed at this leader and its
// DONE record is not applied yet.
func (d *delivery) completed(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.finished[id]
	return ok
}

// doneApplied ends what is kept of the phase 2 of ids: their DONE record
// is applied.
func (d *delivery) doneApplied(ids []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.finished) == 0 {
		return
	}
	for _, id := range ids {
		delete(d.finished, id)
	}
}

// waits reports whether phase 2 of id waits for participant name.
func (d *delivery) waits(id, name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.txs[id]
	return ok && p.waiting(name)
}

// retryNow wakes the senders of id's unacknowledged participants from their
// backoff. It reports false if id's phase 2 is not in progress.
func (d *delivery) retryNow(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.txs[id]
	if !ok {
		return false
	}
	for _, part := range p.parts {
		if _, waiting := p.remaining[part.GetName()]; !waiting {
			continue
		}
		if s, ok := d.senders[part.GetAddress()]; ok {
			select {
			case s.retry <- struct{}{}:
			default:
			}
		}
	}
	return true
}

// reachable cuts short the backoff of the sender of addr, if it is
// failing: a call to the participant there has just succeeded, so what is
// queued for it is retried now rather than after the backoff its failures
// earned (up to MaxRetryBackoff).
func (d *delivery) reachable(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.senders[addr]; ok && !s.failingSince.IsZero() {
		select {
		case s.retry <- struct{}{}:
		default:
		}
	}
}

// run sends s's queue in batches until delivery stops, or until s has
// been idle for d.idle.
func (d *delivery) run(s *sender) {
	failures := 0
	idle := d.deps.clock.NewTimer(d.idle)
	defer idle.Stop()
	for {
		select {
		case <-s.wake:
		case <-idle.C():
			if d.retire(s) {
				return
			}
			idle.Reset(d.idle)
			continue
		case <-d.stop:
			return
		}
		for {
			batch := d.take(s)
			if len(batch) == 0 {
				break
			}
			ok, bad, err := d.send(s.addr, batch)
			if len(ok) > 0 {
				d.acked(s, ok)
			}
			if len(bad) > 0 {
				failures++
				d.failed(s, bad, err)
				retried, ok := d.sleep(s, backoff(failures, d.baseRetry, d.maxRetry))
				if !ok {
					return
				}
				if retried {
					failures = 0
				}
				continue
			}
			failures = 0
		}
		idle.Reset(d.idle)
	}
}

// retire forgets s if nothing is queued for it, and reports whether it did.
// Work is queued under d.mu, so none can be lost to a retired sender.
func (d *delivery) retire(s *sender) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(s.queue) > 0 {
		return false
	}
	if d.senders[s.addr] == s {
		delete(d.senders, s.addr)
	}
	return true
}

// busy adds to held the addresses that have phase-2 work queued.
func (d *delivery) busy(held map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for addr, s := range d.senders {
		if len(s.queue) > 0 {
			held[addr] = true
		}
	}
}

// take removes up to deliveryBatch items of one outcome from s's queue,
// skipping those no longer pending.
func (d *delivery) take(s *sender) []item {
	d.mu.Lock()
	defer d.mu.Unlock()
	var batch []item
	kept := s.queue[:0]
	for _, it := range s.queue {
		p, ok := d.txs[it.txid]
		switch {
		case !ok || !p.waiting(it.name):
		case len(batch) < deliveryBatch && (len(batch) == 0 || batch[0].outcome == it.outcome):
			batch = append(batch, it)
		default:
			kept = append(kept, it)
		}
	}
	s.queue = kept
	return batch
}

// send delivers batch to the participant at addr (or publishes the staged
// messages of its transactions, for messagesAddr) and splits it into the
// items acknowledged and those to retry; err describes the failure.
func (d *delivery) send(addr string, batch []item) (ok, bad []item, err error) {
	ids := itemTxids(batch)
	ctx, cancel := context.WithTimeout(d.deps.ctx, deliveryTimeout)
	defer cancel()
	if _, off := d.deps.tracer.(nopTracer); !off {
		var end func(error)
		ctx, end = d.deps.tracer.StartLinked(ctx, "verdict.phase2 "+OutcomeWord(batch[0].outcome)+" "+addr, d.traces(ids), ids)
		defer func() { end(err) }()
	}
	if addr != messagesAddr {
		if err := d.deps.decide(ctx, addr, batch[0].outcome, ids); err != nil {
			return nil, batch, err
		}
		return batch, nil, nil
	}
	// Staged messages: each transaction succeeds or fails on its own.
	for i, e := range d.deps.publish(ctx, ids) {
		if e == nil {
			ok = append(ok, batch[i])
			continue
		}
		bad = append(bad, batch[i])
		if err == nil {
			err = e
		}
	}
	return ok, bad, err
}

// traces are the decisions' spans of the transactions ids.
func (d *delivery) traces(ids []string) []SpanRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	refs := make([]SpanRef, len(ids))
	for i, id := range ids {
		if p := d.txs[id]; p != nil {
			refs[i] = p.trace
		}
	}
	return refs
}

// itemTxids lists the transactions of batch, for a log line about all of them.
func itemTxids(batch []item) []string {
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.txid
	}
	return ids
}

func (p *pending) waiting(name string) bool {
	_, ok := p.remaining[name]
	return ok
}

// failed puts batch back at the front of s's queue and records err; a
// transaction that has now been failing for stuckAfter is logged as stuck.
func (d *delivery) failed(s *sender, batch []item, err error) {
	msg := err.Error()
	now := d.deps.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	for _, it := range batch {
		p, ok := d.txs[it.txid]
		if !ok || !p.waiting(it.name) {
			continue
		}
		d.deps.retried()
		p.lastErr = "participant " + it.name + " at " + s.addr + ": " + msg
		if s.addr == messagesAddr {
			p.lastErr = "staged messages: " + msg
		}
		p.failed++
		d.deps.timeline.add(it.txid, eventAttempt, it.name, phase2Verb(p.outcome)+" failed: "+msg)
		// The participant may have been failing for other transactions
		// before this one was queued: it is the participant that is stuck.
		if since := p.remaining[it.name]; since.IsZero() || s.failingSince.Before(since) {
			p.remaining[it.name] = s.failingSince
		}
		if !p.stuck && now.Sub(p.remaining[it.name]) >= d.stuckAfter {
			p.stuck = true
			d.log.Warn("transaction stuck: phase 2 keeps failing", "txid", it.txid,
				"outcome", OutcomeWord(p.outcome), "participant", it.name, "address", s.addr,
				"failing_since", p.remaining[it.name], "attempts", p.failed, "err", msg)
			d.deps.stuck(it.txid, p.outcome, p.lastErr, p.parts, now)
		}
	}
	s.queue = append(batch, s.queue...)
	d.log.Debug("phase-2 delivery failed", "participant", s.addr, "txid", itemTxids(batch), "err", msg)
}

func (d *delivery) acked(s *sender, batch []item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.failingSince = time.Time{}
	for _, it := range batch {
		p, ok := d.txs[it.txid]
		if !ok || !p.waiting(it.name) {
			continue
		}
		d.deps.timeline.add(it.txid, eventAck, it.name, phase2Verb(p.outcome)+" acknowledged")
		if d.settleLocked(it.txid, p, it.name) && p.stuck {
			d.log.Info("stuck transaction completed phase 2", "txid", it.txid, "attempts", p.failed)
		}
	}
}

// errDoneDropped is the failure TestingKnobs.DropDone injects.
var errDoneDropped = errors.New("engine: DONE proposal dropped (test knob)")

// flushDone runs until stop: every doneFlushEvery it proposes one DONE
// record for the transactions whose phase 2 completed.
func (d *delivery) flushDone() {
	t := d.deps.clock.NewTicker(doneFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-d.stop:
			return
		}
		d.mu.Lock()
		ids, ops, epoch := d.done, d.onePhase, d.epoch
		d.done, d.onePhase = nil, nil
		d.mu.Unlock()
		ids = d.holdUndecided(ids, epoch)
		if len(ids) == 0 && len(ops) == 0 {
			continue
		}
		if h := d.deps.hooks; h != nil && h.ProposeDone != nil && !h.ProposeDone(ids, ops) {
			continue
		}
		rec := &logv1.LogRecord{Kind: &logv1.LogRecord_Done{Done: &logv1.Done{
			Txids: ids, DoneUnixMs: d.deps.logNow().UnixMilli(), OnePhase: ops,
		}}}
		// Only the log knows a one-phase commit once its leader is gone:
		// a record with some waits until it is applied, and one that was
		// not (raft dropped it during a leadership transfer, say) is
		// proposed again with the next flush while this leadership lasts.
		// A lost DONE of a logged decision costs nothing: recovery
		// proposes it again.
		var err error
		if h := d.deps.hooks; h != nil && h.DropDone != nil && h.DropDone(ids, ops) {
			err = errDoneDropped
		} else {
			err = d.deps.propose(d.deps.ctx, rec, len(ops) > 0)
		}
		if err == nil {
			continue
		}
		d.log.Debug("done record not proposed", "txid", ids, "one_phase", len(ops), "err", err)
		if len(ops) > 0 {
			d.mu.Lock()
			if d.epoch == epoch {
				d.onePhase = append(ops, d.onePhase...)
			}
			d.mu.Unlock()
		}
	}
}

// holdUndecided returns the txids of ids whose DONE can go in the log now,
// and queues the others again for the next flush: those whose decision
// (an ABORT proposed without waiting) is not applied yet, for which the
// table would drop DONE, leaving the decision undone until recovery
// re-drives it. A decision still missing after doneHoldFlushes flushes
// (its record lost) is held no longer.
func (d *delivery) holdUndecided(ids []string, epoch uint64) []string {
	if len(ids) == 0 {
		return ids
	}
	ready, later := d.deps.recorded(ids)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ready {
		delete(d.held, id)
	}
	if d.epoch != epoch {
		return ready
	}
	for _, id := range later {
		if d.held[id]++; d.held[id] > doneHoldFlushes {
			delete(d.held, id)
			ready = append(ready, id)
			continue
		}
		d.done = append(d.done, id)
	}
	return ready
}

// sleep waits out a backoff of s. It returns retried if a retry (an
// operator's, or reachable) cut it short, and ok false if delivery stopped.
func (d *delivery) sleep(s *sender, dur time.Duration) (retried, ok bool) {
	t := d.deps.clock.NewTimer(dur)
	defer t.Stop()
	d.mu.Lock()
	s.backoffUntil = d.deps.clock.Now().Add(dur)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		s.backoffUntil = time.Time{}
		d.mu.Unlock()
	}()
	select {
	case <-t.C():
		return false, true
	case <-s.retry:
		return true, true
	case <-d.stop:
		return false, false
	}
}

// backoff is exponential in the number of consecutive failures, from base
// and capped at max, with full jitter over its upper half.
func backoff(failures int, base, max time.Duration) time.Duration {
	b := base << min(failures-1, 20)
	if b > max || b <= 0 {
		b = max
	}
	return b/2 + rand.N(b/2+1)
}
