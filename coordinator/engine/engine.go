package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-tx/verdict/coordinator/table"
	"github.com/verdict-tx/verdict/internal/txid"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// reasonExpired explains OUTCOME_EXPIRED.
const reasonExpired = "created before the retention window: its outcome, if it had one, is no longer kept"

// reasonUnknownTx explains a presumed abort.
const reasonUnknownTx = "unknown transaction: not begun at this leader, lost in a leader change, or aborted"

// Config is what the engine is told by the node (coordinator.Config).
// The node has checked every value and filled in the defaults.
type Config struct {
	// Self is this node's id: a node marked diverged (statehash.go) does
	// not lead.
	Self            uint64
	DefaultTimeout  time.Duration
	MaxTimeout      time.Duration
	MaxParticipants int
	// MaxParticipantAddresses is what Participants.Admit holds at most (for
	// the message that refuses one more).
	MaxParticipantAddresses int
	MaxStagedBytes          int
	MaxOpenPerClient        int // open transactions per client
	MaxListBytes            int // encoded size of a ListTransactions answer
	// Retention is how long decided transactions are kept after DONE, and
	// outcomes without a log record (one-phase and read-only commits) after
	// they are decided.
	Retention time.Duration
	// MaxRetryBackoff bounds phase 2's backoff; StuckAfter is when a
	// transaction whose phase 2 keeps failing is marked stuck.
	MaxRetryBackoff time.Duration
	StuckAfter      time.Duration
	// IdleTimeout is how long a participant address goes unused before
	// Participants.ReleaseIdle lets it go, and a phase-2 sender ends.
	IdleTimeout time.Duration
	Clock       Clock
	Logger      *slog.Logger
	// Coordinators lists the addresses of the voting members, for Begin's
	// answer; nil: none.
	Coordinators func() []string
	// Knobs are the tests' fault-injection points; nil in production.
	Knobs *TestingKnobs
}

// Deps are what the engine uses (see ports.go). Log is given at Start,
// since the log is built over the engine's StateMachine.
type Deps struct {
	Participants Participants
	Publisher    Publisher // nil: no NATS
	Observer     Observer  // nil: nothing counted
	Tracer       Tracer    // nil: nothing traced
}

// engineConfig is the engine's view of Config.
type engineConfig struct {
	defaultTimeout  time.Duration
	maxTimeout      time.Duration
	maxParticipants int
	maxAddresses    int
	maxStagedBytes  int
	maxOpen         int
	maxListBytes    int
	idle            time.Duration
	clock           Clock
	log             *slog.Logger
	retention       time.Duration
	coordinators    func() []string
	hooks           *TestingKnobs // nil outside tests
}

// Engine is the 2PC engine. Begin, Enlist, Commit and Abort run on the
// ready leader only (the service forwards them there); the engine checks
// leadership itself too, so that a deposed leader answers nothing it may not.
type Engine struct {
	cfg      engineConfig
	log      Log
	fsm      *fsm
	active   *activeTable
	prop     *proposer
	parts    Participants
	pub      Publisher // nil without NATS
	obs      Observer
	tracer   Tracer
	delivery *delivery
	// confirm shares leadership confirmations among one-phase commits.
	confirm confirmer
	// timeline is what this leader saw happen to each transaction.
	timeline *timeline
	// logClock stamps DONE records and times Prunes (see logclock.go).
	logClock logClockRef
	// heuristics counts the heuristic resolutions this node made as the
	// leader (ForgetTransaction).
	heuristics atomic.Uint64
	// hwm is the newest reading of the clock (Unix ns): stampNow.
	hwm atomic.Int64
	// lastStamped is when (stampNow, Unix ns) this engine last registered
	// a stamped transaction: pruneKeep.
	lastStamped atomic.Int64

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
	// (the state of older terms forgotten): the engine serves as the
	// leader only in that term, so nothing it records in the new term is
	// wiped by a reset that comes late. It is 0 while no term is ready:
	// on a follower, and on a leader marked diverged.
	readyTerm atomic.Uint64
	// retired is a term this node led and stopped serving when it was
	// marked diverged: it never serves that term again.
	retired atomic.Uint64
}

// New builds an engine; Start starts it over its log.
func New(cfg Config, d Deps) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Coordinators == nil {
		cfg.Coordinators = func() []string { return nil }
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Tracer == nil {
		d.Tracer = nopTracer{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Engine{
		cfg: engineConfig{
			defaultTimeout:  cfg.DefaultTimeout,
			maxTimeout:      cfg.MaxTimeout,
			maxParticipants: cfg.MaxParticipants,
			maxAddresses:    cfg.MaxParticipantAddresses,
			maxOpen:         cfg.MaxOpenPerClient,
			maxListBytes:    cfg.MaxListBytes,
			maxStagedBytes:  cfg.MaxStagedBytes,
			idle:            cfg.IdleTimeout,
			retention:       cfg.Retention,
			clock:           cfg.Clock,
			log:             cfg.Logger,
			coordinators:    cfg.Coordinators,
			hooks:           cfg.Knobs,
		},
		fsm:          newFSM(cfg.Logger),
		active:       newActiveTable(),
		timeline:     newTimeline(cfg.Clock),
		parts:        d.Participants,
		pub:          d.Publisher,
		obs:          d.Observer,
		tracer:       d.Tracer,
		leaderEvents: make(chan struct{}, 1),
		ctx:          ctx,
		cancel:       cancel,
	}
	c.delivery = newDelivery(c.phase2Deps(), cfg.Logger, cfg.MaxRetryBackoff, cfg.StuckAfter, cfg.IdleTimeout)
	c.fsm.self = cfg.Self
	if k := cfg.Knobs; k != nil {
		c.fsm.skip = k.SkipApply
		if k.FirstRetry > 0 {
			c.delivery.baseRetry = k.FirstRetry
		}
		c.logClock.mono = k.Monotonic
	}
	c.confirm.c = c
	c.active.mono = c.stampNow
	c.active.admits = func(id string, now time.Time) bool {
		place, _ := c.window(id, now)
		return place == inWindow
	}
	return c
}

func errNotLeader() error {
	return ErrNotLeader
}

// emit publishes a lifecycle event if NATS is configured; otherwise it
// costs a nil check.
func (c *Engine) emit(kind, id string, o verdictv1.Outcome, reason string, parts []*verdictv1.ParticipantRef) {
	if c.pub == nil {
		return
	}
	c.pub.Emit(Event{Kind: kind, Txid: id, Outcome: o, Reason: reason, Participants: parts, Time: c.cfg.clock.Now()})
}

// StateMachine is what the log applies its entries to: the transaction
// table.
func (c *Engine) StateMachine() StateMachine { return c.fsm }

// LeaderTerm is the term in which this node is the ready leader, and
// whether it is: ready once the engine has handled the term's start.
func (c *Engine) LeaderTerm() (uint64, bool) { return c.leaderTerm() }

// HeuristicCount is the number of heuristic resolutions this node made as
// the leader.
func (c *Engine) HeuristicCount() uint64 { return c.heuristics.Load() }

// leaderTerm is the node's: the term in which it is the ready leader.
// Only watchLeadership makes a term ready, so a mark diverged takes
// effect when that loop handles it (it retires the term), never halfway.
func (c *Engine) leaderTerm() (uint64, bool) {
	term, ok := c.log.LeaderTerm()
	if ok && c.readyTerm.Load() != term {
		return term, false // the new term's start is not handled yet
	}
	return term, ok
}

// OnLeadership is the log's leadership callback: the log calls it when
// this node becomes the ready leader of a term or stops leading. It does
// not block: it only wakes watchLeadership.
func (c *Engine) OnLeadership(bool, uint64) {
	select {
	case c.leaderEvents <- struct{}{}:
	default:
	}
}

// watchLeadership reacts to leadership changes: transactions of another term
// are forgotten (a newer leader may have answered "aborted" for them), and a
// new ready leader re-drives phase 2 of every undone decision.
//
// A leader whose state is marked diverged is not ready: it serves nothing
// and drives no phase 2 from its table (the fsm wakes this loop when the
// mark changes). A leader marked after it was ready also retires its term:
// what it answered in that term (tombstones, stamps, one-phase outcomes)
// is forgotten with its active transactions, so it must never serve that
// term again, even once the mark is cleared; it serves again from a later
// term (Retired: the node hands leadership on, or is restarted).
func (c *Engine) watchLeadership() {
	var handled struct {
		term  uint64
		ready bool
	}
	for {
		select {
		case <-c.leaderEvents:
		case <-c.ctx.Done():
			return
		}
		term, leads := c.log.LeaderTerm()
		diverged := leads && c.fsm.isSelfDiverged()
		if handled.ready && term == handled.term && diverged {
			c.retired.Store(term)
			c.cfg.log.Error("this leader was marked diverged: it retires its term, and serves again only from a later one (it hands leadership on, or restart it)", "term", term)
		}
		retired := leads && term == c.retired.Load()
		ready := leads && !diverged && !retired
		if term == handled.term && ready == handled.ready {
			continue
		}
		handled.term, handled.ready = term, ready
		c.readyTerm.Store(0) // no term is ready while this runs
		keep := uint64(0)    // the term whose transactions stay active
		if ready {
			keep = term
		}
		c.active.clearExcept(keep)
		c.delivery.reset(ready)
		c.timeline.reset()
		switch {
		case ready:
			c.startLogClock()
			c.readyTerm.Store(term)
			c.cfg.log.Info("leader ready: re-driving undone decisions", "term", term)
			c.recover()
		case diverged:
			c.cfg.log.Error("leading, but this node's state is marked diverged: it serves no transactions and drives no phase 2 until an operator clears the mark", "term", term)
		default:
			c.cfg.log.Info("not the leader: active transactions forgotten")
		}
	}
}

// Retired reports whether this node leads a term it retired (see
// watchLeadership): it serves nothing until a later term.
func (c *Engine) Retired() bool {
	term, leads := c.log.LeaderTerm()
	return leads && term == c.retired.Load()
}

// startLogClock starts the log's clock of a term this node leads, at the
// time its applied log vouches for.
func (c *Engine) startLogClock() {
	logMs := c.fsm.logTime(c.cfg.retention)
	if ahead := c.logClock.start(logMs, c.cfg.clock.Now(), c.cfg.retention); ahead > 0 {
		c.cfg.log.Warn("this node's clock is ahead of the log's time: retention follows the log's time, which catches up at 1.25 times real time",
			"ahead", ahead.Round(time.Millisecond), "log_time", time.UnixMilli(logMs).UTC())
	}
}

// logNow is the log's time (see logclock.go).
func (c *Engine) logNow() time.Time { return c.logClock.now(c.cfg.clock.Now()) }

// Begin starts a transaction for client (the caller's identity, which the
// limit on open transactions per client counts by).
func (c *Engine) Begin(ctx context.Context, client string, req *verdictv1.BeginRequest) (*verdictv1.BeginResponse, error) {
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
		client:   client,
		parts:    map[string]*verdictv1.ParticipantRef{},
		decided:  make(chan struct{}),
	}
	if err := c.active.add(t, c.cfg.maxOpen); err != nil {
		return nil, err
	}
	c.timeline.add(id, eventBegin, "", "deadline "+t.deadline.UTC().Format(time.RFC3339Nano))
	return &verdictv1.BeginResponse{
		Txid:           id,
		DeadlineUnixMs: t.deadline.UnixMilli(),
		Coordinators:   c.cfg.coordinators(),
		Term:           term,
	}, nil
}

// Enlist adds a participant to a batch of active transactions; each
// transaction answers for itself, with one error per txid (nil: enlisted).
// A transaction its initiator began itself is registered here by its first
// enlistment (stamped.go), counted against no client.
func (c *Engine) Enlist(ctx context.Context, req *verdictv1.EnlistRequest) ([]error, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return nil, errNotLeader()
	}
	stamps, votes := req.GetStamps(), req.GetVotes()
	errs := make([]error, len(req.GetTxids()))
	for i, id := range req.GetTxids() {
		var st *verdictv1.TxStamp
		if i < len(stamps) {
			st = stamps[i]
		}
		yes := i < len(votes) && votes[i] == verdictv1.Vote_VOTE_YES
		errs[i] = c.enlist(id, req.GetParticipant(), st, yes, term)
	}
	return errs, nil
}

// enlist enlists p in id; yes is p's early YES vote (see activeTx.early).
func (c *Engine) enlist(id string, p *verdictv1.ParticipantRef, st *verdictv1.TxStamp, yes bool, term uint64) error {
	t, err := c.activeOrStamped(id, st, term)
	if err != nil {
		return err
	}
	added, voted, err := c.active.enlist(t, p, yes, c.txLimits())
	if added {
		c.timeline.add(id, eventEnlist, p.GetName(), "at "+p.GetAddress())
	}
	if voted {
		c.timeline.add(id, eventVote, p.GetName(), "yes, with its enlistment (prepared early)")
	}
	return err
}

// activeOrStamped returns the active transaction id, registering it
// (unattributed) if it is unknown here and st stamps it with this leader's
// term: a participant's call under it (an enlistment, staged messages)
// may be the first this leader hears of it.
func (c *Engine) activeOrStamped(id string, st *verdictv1.TxStamp, term uint64) (*activeTx, error) {
	f := c.lookup(id)
	if f.where == inMemory {
		return f.live, nil
	}
	s, stamped := stampOf(st)
	if !stamped || f.where != nowhere {
		return nil, notActive(id, f)
	}
	return c.registerStamped(id, s, term, "")
}

// txLimits are the limits the active table checks, as of now.
func (c *Engine) txLimits() txLimits {
	return txLimits{
		now:            c.cfg.clock.Now(),
		maxParts:       c.cfg.maxParticipants,
		maxAddresses:   c.cfg.maxAddresses,
		admit:          c.parts.Admit,
		maxStagedBytes: c.cfg.maxStagedBytes,
		messagesOn:     c.pub != nil,
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
func (c *Engine) Abort(ctx context.Context, req *verdictv1.AbortRequest) (*verdictv1.AbortResponse, error) {
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
			c.abort(t, AbortInitiator, reason)
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

func (c *Engine) abortAnswer(id string, o verdictv1.Outcome, reason string) (*verdictv1.AbortResponse, error) {
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
func (c *Engine) abort(t *activeTx, cause AbortCause, reason string) {
	parts, ok := c.active.claimAbort(t)
	if !ok {
		return
	}
	c.finish(t, verdictv1.Outcome_OUTCOME_ABORTED, reason)
	c.recordAbort(t, parts, cause, reason)
}

// recordAbort counts, announces, logs and delivers the abort of t.
func (c *Engine) recordAbort(t *activeTx, parts []*verdictv1.ParticipantRef, cause AbortCause, reason string) {
	id, deadline := t.id, t.deadline
	c.obs.Aborted(cause)
	c.emit(EventAborted, id, verdictv1.Outcome_OUTCOME_ABORTED, reason, parts)
	rec := decisionRecord(id, verdictv1.Outcome_OUTCOME_ABORTED, parts, reason, c.cfg.clock.Now(), deadline)
	if _, err := c.prop.submit(context.Background(), rec, false); err != nil {
		c.cfg.log.Debug("abort record not proposed", "txid", id, "err", err)
	}
	c.delivery.deliverTraced(id, verdictv1.Outcome_OUTCOME_ABORTED, parts, t.trace)
}

// Outcome answers a participant (or an initiator, or an operator) that asks
// what became of a transaction. It looks only after a ReadIndex has
// confirmed that this node is still the leader and has applied every
// acknowledged decision; what it answers for a transaction it finds nowhere
// is in unknown.go.
func (c *Engine) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
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
func (c *Engine) confirmLeader(ctx context.Context) (uint64, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return 0, errNotLeader()
	}
	if err := c.log.ReadIndex(ctx); err != nil {
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

func (c *Engine) stillLeader(term uint64) bool {
	t, ok := c.leaderTerm()
	return ok && t == term
}

// GetTransaction describes one transaction, with its timeline.
func (c *Engine) GetTransaction(ctx context.Context, req *verdictv1.GetTransactionRequest) (*verdictv1.GetTransactionResponse, error) {
	tx, err := c.Describe(req.GetTxid())
	if err != nil {
		return nil, err
	}
	return &verdictv1.GetTransactionResponse{Transaction: tx}, nil
}

// Describe returns what this node knows of transaction id: from the log,
// or from the leader's memory, with its timeline; NotFound if nothing.
func (c *Engine) Describe(id string) (*verdictv1.Transaction, error) {
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
func (c *Engine) ListTransactions(ctx context.Context, req *verdictv1.ListTransactionsRequest) (*verdictv1.ListTransactionsResponse, error) {
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
func (c *Engine) listFilter(req *verdictv1.ListTransactionsRequest) table.ListFilter {
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

// OutcomeOf is the outcome of a transaction in state s.
func OutcomeOf(s verdictv1.TxState) verdictv1.Outcome {
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

// OutcomeWord names an outcome in lower case: committed, aborted, or
// unknown.
func OutcomeWord(o verdictv1.Outcome) string { return stateWord(txStateOf(o)) }

func reasonf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// beginTimeout is the lifetime a Begin asking for ms milliseconds gets: def
// for 0, ms itself up to max, and InvalidArgument for a negative ms or one
// above max. ms is compared before it becomes a Duration, whose nanoseconds
// would overflow above about 9.2e12 ms and wrap to a deadline in the past.
func beginTimeout(ms int64, def, max time.Duration) (time.Duration, error) {
	switch {
	case ms < 0:
		return 0, errorf(ErrInvalid, "verdict: timeout_ms must not be negative (got %d)", ms)
	case ms == 0:
		return def, nil
	case ms > max.Milliseconds():
		return 0, errorf(ErrInvalid, "verdict: timeout_ms %d exceeds the maximum %v", ms, max)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
