package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/table"
	"github.com/verdict-tx/verdict/internal/txid"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// reasonExpired explains OUTCOME_EXPIRED.
const reasonExpired = "created before the retention window: its outcome, if it had one, is no longer kept"

// reasonUnknownTx explains a presumed abort.
const reasonUnknownTx = "unknown transaction: not begun at this leader, lost in a leader change, or aborted"

// engineConfig is the part of Config the engine uses.
type engineConfig struct {
	defaultTimeout  time.Duration
	maxTimeout      time.Duration
	maxParticipants int
	maxStagedBytes  int
	maxOpen         int // open transactions per client
	maxListBytes    int // encoded size of a ListTransactions answer
	clock           Clock
	log             *slog.Logger
	// retention is how long decided transactions are kept after DONE, and
	// outcomes without a log record (one-phase and read-only commits) after
	// they are decided.
	retention    time.Duration
	coordinators func() []string
	hooks        *testHooks // nil outside the package's tests
}

// Coordinator is the 2PC engine. Begin, Enlist, Commit and Abort run on the
// ready leader only (the service forwards them there); the engine checks
// leadership itself too, so that a deposed leader answers nothing it may not.
type Coordinator struct {
	cfg      engineConfig
	node     *txlog.Node
	fsm      *fsm
	active   *activeTable
	prop     *proposer
	parts    *participantPool
	delivery *delivery
	// confirm shares leadership confirmations among one-phase commits.
	confirm confirmer
	metrics *metrics
	auth    *auth
	// timeline is what this leader saw happen to each transaction.
	timeline *timeline
	// logClock stamps DONE records and times Prunes (see logclock.go).
	logClock logClockRef
	// heuristics counts the heuristic resolutions this node made as the
	// leader (ForgetTransaction).
	heuristics atomic.Uint64
	// nats is the connection to NATS; nil when Config.NatsURL is empty.
	nats *natsLink

	// ctx is cancelled when the engine stops; work not bound to a request
	// derives from it, and every goroutine the engine starts (counted in
	// wg) ends once it is cancelled. See lifecycle.go.
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lifeMu   sync.Mutex
	stopping bool // lifeMu

	leaderEvents chan struct{}
	// readyTerm is the leader term whose start watchLeadership has handled
	// (the state of older terms forgotten): the coordinator serves as the
	// leader only in that term, so nothing it records in the new term is
	// wiped by a reset that comes late.
	readyTerm atomic.Uint64
}

func errNotLeader() error {
	return ErrNotLeader
}

// events returns the lifecycle event publisher; nil (whose emit does
// nothing) without NATS.
func (c *Coordinator) events() *events {
	if c.nats == nil {
		return nil
	}
	return c.nats.events
}

// eventsDropped is the number of lifecycle events dropped; 0 without NATS.
func (c *Coordinator) eventsDropped() uint64 {
	if c.nats == nil {
		return 0
	}
	return c.nats.events.Dropped()
}

// emit publishes a lifecycle event if NATS is configured; otherwise it
// costs a nil check.
func (c *Coordinator) emit(kind, id string, o verdictv1.Outcome, reason string, parts []*verdictv1.ParticipantRef) {
	if c.nats == nil {
		return
	}
	c.nats.events.emit(kind, id, o, reason, parts, c.cfg.clock.Now())
}

// leaderTerm is the node's: the term in which it is the ready leader.
func (c *Coordinator) leaderTerm() (uint64, bool) {
	term, ok := c.node.LeaderTerm()
	if ok && c.readyTerm.Load() != term {
		return term, false // the new term's start is not handled yet
	}
	return term, ok
}

// onLeadership is the node's Leadership callback; it must not block, so it
// only wakes watchLeadership.
func (c *Coordinator) onLeadership(bool, uint64) {
	select {
	case c.leaderEvents <- struct{}{}:
	default:
	}
}

// watchLeadership reacts to leadership changes: transactions of another term
// are forgotten (a newer leader may have answered "aborted" for them), and a
// new ready leader re-drives phase 2 of every undone decision.
func (c *Coordinator) watchLeadership() {
	for {
		select {
		case <-c.leaderEvents:
		case <-c.ctx.Done():
			return
		}
		term, ready := c.node.LeaderTerm()
		if term == c.readyTerm.Load() {
			continue
		}
		c.active.clearExcept(term)
		c.delivery.reset()
		c.timeline.reset()
		if ready {
			c.startLogClock()
		}
		c.readyTerm.Store(term)
		if ready {
			c.cfg.log.Info("leader ready: re-driving undone decisions", "term", term)
			c.recover()
		} else {
			c.cfg.log.Info("not the leader: active transactions forgotten")
		}
	}
}

// startLogClock starts the log's clock of a term this node leads, at the
// time its applied log vouches for.
func (c *Coordinator) startLogClock() {
	logMs := c.fsm.logTime(c.cfg.retention)
	if ahead := c.logClock.start(logMs, c.cfg.clock.Now(), c.cfg.retention); ahead > 0 {
		c.cfg.log.Warn("this node's clock is ahead of the log's time: retention follows the log's time, which catches up at 1.25 times real time",
			"ahead", ahead.Round(time.Millisecond), "log_time", time.UnixMilli(logMs).UTC())
	}
}

// logNow is the log's time (see logclock.go).
func (c *Coordinator) logNow() time.Time { return c.logClock.now(c.cfg.clock.Now()) }

// Begin starts a transaction.
func (c *Coordinator) Begin(ctx context.Context, req *verdictv1.BeginRequest) (*verdictv1.BeginResponse, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return nil, errNotLeader()
	}
	timeout, err := beginTimeout(req.GetTimeoutMs(), c.cfg.defaultTimeout, c.cfg.maxTimeout)
	if err != nil {
		return nil, err
	}
	id, err := txid.New()
	if err != nil {
		return nil, errorf(ErrInternal, "%s", err.Error())
	}
	t := &activeTx{
		id:       id,
		deadline: c.cfg.clock.Now().Add(timeout),
		term:     term,
		client:   c.auth.identity(ctx),
		parts:    map[string]*verdictv1.ParticipantRef{},
		decided:  make(chan struct{}),
	}
	if !c.active.add(t, c.cfg.maxOpen) {
		return nil, errorf(ErrLimit, "verdict: client %s has %d open transactions, the maximum (--max-open-per-client); commit or abort some first", t.client, c.cfg.maxOpen)
	}
	c.timeline.add(id, eventBegin, "", "deadline "+t.deadline.UTC().Format(time.RFC3339Nano))
	return &verdictv1.BeginResponse{
		Txid:           id,
		DeadlineUnixMs: t.deadline.UnixMilli(),
		Coordinators:   c.cfg.coordinators(),
	}, nil
}

// Enlist adds a participant to a batch of active transactions; each
// transaction answers for itself.
func (c *Coordinator) Enlist(ctx context.Context, req *verdictv1.EnlistRequest) (*verdictv1.EnlistResponse, error) {
	if _, ok := c.leaderTerm(); !ok {
		return nil, errNotLeader()
	}
	resp := &verdictv1.EnlistResponse{Results: make([]*verdictv1.EnlistResult, len(req.GetTxids()))}
	for i, id := range req.GetTxids() {
		st := status.Convert(toStatus(c.enlist(id, req.GetParticipant())))
		resp.Results[i] = &verdictv1.EnlistResult{Code: uint32(st.Code()), Message: st.Message()}
	}
	return resp, nil
}

func (c *Coordinator) enlist(id string, p *verdictv1.ParticipantRef) error {
	f := c.lookup(id)
	if f.where != inMemory {
		return notActive(id, f)
	}
	added, err := c.active.enlist(f.live, p, c.txLimits())
	if added {
		c.timeline.add(id, eventEnlist, p.GetName(), "at "+p.GetAddress())
	}
	return err
}

// txLimits are the limits the active table checks, as of now.
func (c *Coordinator) txLimits() txLimits {
	return txLimits{
		now:            c.cfg.clock.Now(),
		maxParts:       c.cfg.maxParticipants,
		maxAddresses:   c.parts.max,
		admit:          c.parts.admit,
		maxStagedBytes: c.cfg.maxStagedBytes,
		messagesOn:     c.nats != nil,
	}
}

// notActive explains why id, found as f and not in memory, is not an
// active transaction at this leader.
func notActive(id string, f found) error {
	if f.where == inLog || f.where == inRecent {
		return errorf(ErrNotActive, "verdict: transaction %s is already %s", id, f.decidedWord())
	}
	return errorf(ErrNotActive, "verdict: transaction %s is not active at the leader (never begun here, or lost in a leader change): aborted", id)
}

// Abort aborts a transaction that is not decided yet.
func (c *Coordinator) Abort(ctx context.Context, req *verdictv1.AbortRequest) (*verdictv1.AbortResponse, error) {
	if _, ok := c.leaderTerm(); !ok {
		return nil, errNotLeader()
	}
	id := req.GetTxid()
	reason := req.GetReason()
	if reason == "" {
		reason = "aborted by the initiator"
	}
	f := c.lookup(id)
	if o, reason, ok := f.decided(); ok {
		return c.abortAnswer(id, o, reason)
	}
	if t := f.live; f.where == inMemory {
		preparing, first := c.active.requestAbort(t, reason)
		if first {
			c.timeline.add(id, eventAbortRequested, "", reason)
		}
		if !preparing {
			c.abort(t, abortInitiator, reason)
		}
		select {
		case <-t.decided:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return c.abortAnswer(id, t.outcome, t.reason)
	}
	// Unknown: aborted (see unknown.go: an Abort asserts that no Commit of
	// the transaction was attempted), once leadership is confirmed.
	o, reason, err := c.answerUnknown(ctx, id, true)
	if err != nil {
		return nil, err
	}
	return c.abortAnswer(id, o, reason)
}

func (c *Coordinator) abortAnswer(id string, o verdictv1.Outcome, reason string) (*verdictv1.AbortResponse, error) {
	switch o {
	case verdictv1.Outcome_OUTCOME_ABORTED:
		return &verdictv1.AbortResponse{Outcome: o, Reason: reason}, nil
	case verdictv1.Outcome_OUTCOME_COMMITTED:
		return nil, errorf(ErrNotActive, "verdict: transaction %s is already committed; it cannot be aborted", id)
	case verdictv1.Outcome_OUTCOME_EXPIRED:
		return nil, errorf(ErrNotActive, "verdict: transaction %s was %s", id, reasonExpired)
	default:
		return nil, errorf(ErrUnavailable, "verdict: transaction %s: outcome unknown (%s); ask again", id, reason)
	}
}

// abort decides ABORT for a transaction that is still ACTIVE: the record is
// proposed and waited for by no one (presumed abort makes it an
// optimisation), and every enlisted participant is told. It does nothing if
// the commit path (or another abort) has claimed t already.
func (c *Coordinator) abort(t *activeTx, cause abortCause, reason string) {
	parts, ok := c.active.claimAbort(t)
	if !ok {
		return
	}
	c.finish(t, verdictv1.Outcome_OUTCOME_ABORTED, reason)
	c.recordAbort(t.id, parts, cause, reason, t.deadline)
}

func (c *Coordinator) recordAbort(id string, parts []*verdictv1.ParticipantRef, cause abortCause, reason string, deadline time.Time) {
	c.metrics.aborted(cause)
	c.emit(EventAborted, id, verdictv1.Outcome_OUTCOME_ABORTED, reason, parts)
	rec := decisionRecord(id, verdictv1.Outcome_OUTCOME_ABORTED, parts, reason, c.cfg.clock.Now(), deadline)
	if _, err := c.prop.submit(context.Background(), rec, false); err != nil {
		c.cfg.log.Debug("abort record not proposed", "txid", id, "err", err)
	}
	c.delivery.deliver(id, verdictv1.Outcome_OUTCOME_ABORTED, parts)
}

// Outcome answers a participant (or an initiator, or an operator) that asks
// what became of a transaction. It looks only after a ReadIndex has
// confirmed that this node is still the leader and has applied every
// acknowledged decision; what it answers for a transaction it finds nowhere
// is in unknown.go.
func (c *Coordinator) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
	o, reason, err := c.answerUnknown(ctx, req.GetTxid(), presumable(true, req.GetPrepared(), req.GetParticipants()))
	if err != nil {
		return nil, err
	}
	return &verdictv1.OutcomeResponse{Outcome: o, Reason: reason}, nil
}

// confirmLeader confirms, through a Raft ReadIndex, that this node is still
// the leader and has applied every decision acknowledged before the call.
// It returns the term it confirmed; the caller checks stillLeader(term)
// after looking things up. Only then may "unknown" mean "aborted".
func (c *Coordinator) confirmLeader(ctx context.Context) (uint64, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return 0, errNotLeader()
	}
	if err := c.node.ReadIndex(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, err
		}
		return 0, errorf(ErrUnavailable, "verdict: cannot confirm leadership: %v", err)
	}
	if !c.stillLeader(term) {
		return 0, errorf(ErrUnavailable, "verdict: leadership changed; ask again")
	}
	return term, nil
}

func (c *Coordinator) stillLeader(term uint64) bool {
	t, ok := c.leaderTerm()
	return ok && t == term
}

// GetTransaction describes one transaction, with its timeline.
func (c *Coordinator) GetTransaction(ctx context.Context, req *verdictv1.GetTransactionRequest) (*verdictv1.GetTransactionResponse, error) {
	tx, err := c.describe(req.GetTxid())
	if err != nil {
		return nil, err
	}
	return &verdictv1.GetTransactionResponse{Transaction: tx}, nil
}

// describe returns what this node knows of transaction id: from the log,
// or from the leader's memory, with its timeline; NotFound if nothing.
func (c *Coordinator) describe(id string) (*verdictv1.Transaction, error) {
	var tx *verdictv1.Transaction
	switch f := c.lookup(id); f.where {
	case inLog:
		c.delivery.annotate(f.tx)
		tx = f.tx
	case inMemory:
		tx = c.active.info(f.live)
	case inRecent:
		r := f.recent
		tx = &verdictv1.Transaction{
			Txid: id, State: txStateOf(r.outcome), Done: true, Reason: r.reason, DecidedUnixMs: r.at.UnixMilli(),
		}
	default:
		return nil, notFound(id, f)
	}
	c.timeline.annotate(tx)
	return tx, nil
}

// notFound is the error for id, found as f nowhere or expired.
func notFound(id string, f found) error {
	if f.where == inExpired {
		return errorf(ErrUnknownTx, "verdict: transaction %s not found: %s", id, reasonExpired)
	}
	return errorf(ErrUnknownTx, "verdict: transaction %s not found", id)
}

// ListTransactions lists decided transactions from the log and, on the
// leader, active ones from memory, sorted by id.
func (c *Coordinator) ListTransactions(ctx context.Context, req *verdictv1.ListTransactionsRequest) (*verdictv1.ListTransactionsResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = 100
	}
	if limit > 10000 {
		return nil, errorf(ErrInvalid, "verdict: limit %d exceeds 10000", limit)
	}
	f := c.listFilter(req)
	if req.GetStuck() {
		return c.listStuck(req, &f, limit), nil
	}
	st := req.GetState()
	var txs []*verdictv1.Transaction
	if st == verdictv1.TxState_TX_STATE_UNSPECIFIED || st == verdictv1.TxState_TX_STATE_ACTIVE || st == verdictv1.TxState_TX_STATE_PREPARING {
		for _, t := range c.active.snapshot() {
			if (st == verdictv1.TxState_TX_STATE_UNSPECIFIED || t.GetState() == st) && t.GetTxid() > req.GetAfterTxid() && f.Admits(t.GetTxid(), t.GetParticipants()) {
				txs = append(txs, t)
			}
		}
	}
	more := false
	if st != verdictv1.TxState_TX_STATE_ACTIVE && st != verdictv1.TxState_TX_STATE_PREPARING {
		decided, next := c.fsm.list(f, req.GetAfterTxid(), limit)
		more = next != ""
		for _, tx := range decided {
			c.delivery.annotate(tx)
		}
		txs = append(txs, decided...)
	}
	sortByID(txs)
	return listPage(txs, limit, c.cfg.maxListBytes, more), nil
}

// listFilter is the filter of a ListTransactions request; its age is
// measured by this leader's clock.
func (c *Coordinator) listFilter(req *verdictv1.ListTransactionsRequest) table.ListFilter {
	f := table.ListFilter{State: req.GetState(), IncludeDone: req.GetIncludeDone(), Participant: req.GetParticipant()}
	if ms := req.GetOlderThanMs(); ms > 0 {
		f.CreatedBeforeMs = c.cfg.clock.Now().UnixMilli() - ms
	}
	return f
}

func decisionRecord(id string, o verdictv1.Outcome, parts []*verdictv1.ParticipantRef, reason string, now, deadline time.Time) *logv1.LogRecord {
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Decision{Decision: &logv1.Decision{
		Txid:           id,
		Outcome:        o,
		Participants:   parts,
		Reason:         reason,
		DecidedUnixMs:  now.UnixMilli(),
		DeadlineUnixMs: deadline.UnixMilli(),
	}}}
}

func outcomeOf(s verdictv1.TxState) verdictv1.Outcome {
	switch s {
	case verdictv1.TxState_TX_STATE_COMMITTED:
		return verdictv1.Outcome_OUTCOME_COMMITTED
	case verdictv1.TxState_TX_STATE_ABORTED:
		return verdictv1.Outcome_OUTCOME_ABORTED
	case verdictv1.TxState_TX_STATE_ACTIVE, verdictv1.TxState_TX_STATE_PREPARING:
		return verdictv1.Outcome_OUTCOME_PENDING
	}
	return verdictv1.Outcome_OUTCOME_UNSPECIFIED
}

func txStateOf(o verdictv1.Outcome) verdictv1.TxState {
	switch o {
	case verdictv1.Outcome_OUTCOME_COMMITTED:
		return verdictv1.TxState_TX_STATE_COMMITTED
	case verdictv1.Outcome_OUTCOME_ABORTED:
		return verdictv1.TxState_TX_STATE_ABORTED
	}
	return verdictv1.TxState_TX_STATE_UNSPECIFIED
}

func stateWord(s verdictv1.TxState) string {
	switch s {
	case verdictv1.TxState_TX_STATE_ACTIVE:
		return "active"
	case verdictv1.TxState_TX_STATE_PREPARING:
		return "preparing"
	case verdictv1.TxState_TX_STATE_COMMITTED:
		return "committed"
	case verdictv1.TxState_TX_STATE_ABORTED:
		return "aborted"
	}
	return "unknown"
}

func outcomeWord(o verdictv1.Outcome) string { return stateWord(txStateOf(o)) }

func reasonf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
