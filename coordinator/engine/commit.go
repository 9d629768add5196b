package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// DecisionTimeout bounds how long the commit path waits for the COMMIT
// record to be applied.
const DecisionTimeout = 5 * time.Second

// Commit runs two-phase commit for a transaction and answers with its
// outcome. It is idempotent: a retry returns the recorded outcome, and a
// retry while the first attempt is still deciding waits for it.
//
// A transaction its initiator began itself (req.Stamp) and that no
// enlistment registered is registered here, for client, if the stamp names
// this leader's term (stamped.go). Every answer carries the term, from
// which the initiator learns it.
func (c *Engine) Commit(ctx context.Context, client string, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return nil, errNotLeader()
	}
	resp, err := c.commit(ctx, client, term, req)
	if resp != nil {
		resp.Term = term
	}
	return resp, err
}

func (c *Engine) commit(ctx context.Context, client string, term uint64, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
	id := req.GetTxid()
	f := c.lookup(id)
	if o, reason, ok := f.decided(); ok {
		return commitAnswer(id, o, reason)
	}
	t := f.live
	if s, stamped := stampOf(req.GetStamp()); f.where == nowhere && stamped && s.term == term {
		if reg, err := c.registerStamped(id, s, term, client); err == nil {
			t, f = reg, found{where: inMemory, live: reg}
		} else if errors.Is(err, ErrNotLeader) {
			return nil, err // the term's memory is forgotten: answer nothing
		} else {
			switch terr := c.tombstone(id, term); {
			case terr == nil:
				// Not registered, and no later attempt may register it:
				// the transaction is aborted.
				c.obs.Aborted(AbortRefused)
				return commitAnswer(id, verdictv1.Outcome_OUTCOME_ABORTED, err.Error())
			case !errors.Is(terr, errRegistered):
				return nil, terr
			}
			if f = c.lookup(id); f.where == inMemory { // registered meanwhile
				t = f.live
			}
		}
		if o, reason, ok := f.decided(); ok {
			return commitAnswer(id, o, reason)
		}
	}
	if f.where != inMemory {
		o, reason, err := c.answerUnknown(ctx, id, presumable(req.GetRetry(), false, req.GetParticipants()))
		if err != nil {
			return nil, err
		}
		if o == verdictv1.Outcome_OUTCOME_ABORTED && reason == reasonUnknownTx {
			c.obs.Aborted(AbortUnknownTx)
		}
		return commitAnswer(id, o, reason)
	}

	cs := c.active.startCommit(t, req.GetParticipants(), req.GetMessages(), c.txLimits())
	for _, p := range cs.enlisted {
		c.timeline.add(id, eventEnlist, p.GetName(), "at "+p.GetAddress()+", named by the initiator's commit")
	}
	if cs.refuse != "" {
		// The transaction is aborted at once, so that its participants
		// are released now rather than at its deadline.
		c.abort(t, cs.cause, cs.refuse)
		if cs.err != nil {
			return nil, abortedError{fmt.Errorf("%w; the transaction is aborted", cs.err)}
		}
	}

	if cs.start {
		detail := reasonf("commit requested: preparing %d participant(s)", cs.nparts)
		if cs.nearly > 0 {
			detail = reasonf("commit requested: preparing %d participant(s); %d voted YES with their enlistment", cs.nparts-cs.nearly, cs.nearly)
		}
		c.timeline.add(id, eventPrepare, "", detail)
		// The decision runs on this goroutine but is not bound to the
		// caller's context: once begun, it completes even if the initiator
		// goes away (it is bounded by the transaction's deadline).
		if c.enter() {
			// The decision's span, in the Commit call's trace; phase 2's
			// deliveries link to it.
			dctx, end := c.tracer.Start(c.tracer.Carry(ctx, c.ctx), "verdict.decide", id)
			t.trace = c.tracer.Ref(dctx)
			c.decide(dctx, t)
			end(nil)
			c.leave()
		} else {
			// The node stops: nothing was prepared or logged, so no
			// leader can commit t (a later one presumes abort).
			parts, _ := c.active.commitInputs(t)
			c.decideAbort(t, parts, AbortLeadership, "the coordinator node is stopping")
		}
	}
	select {
	case <-t.decided:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return commitAnswer(id, t.outcome, t.reason)
}

func commitAnswer(id string, o verdictv1.Outcome, reason string) (*verdictv1.CommitResponse, error) {
	switch o {
	case verdictv1.Outcome_OUTCOME_COMMITTED, verdictv1.Outcome_OUTCOME_ABORTED, verdictv1.Outcome_OUTCOME_EXPIRED, verdictv1.Outcome_OUTCOME_UNKNOWN:
		return &verdictv1.CommitResponse{Outcome: o, Reason: reason}, nil
	}
	return nil, errorf(ErrUnavailable,
		"verdict: outcome of transaction %s unknown (%s); retry Commit to learn it", id, reason)
}

type vote struct {
	part   *verdictv1.ParticipantRef
	vote   verdictv1.Vote
	reason string
	cause  AbortCause // of an abort, for anything but YES and READ_ONLY
}

// decide runs phase 1 and records the decision. It finishes t exactly once.
// dctx is the engine's context with the decision's trace.
func (c *Engine) decide(dctx context.Context, t *activeTx) {
	parts, msgs := c.active.commitInputs(t)

	ctx, cancel := context.WithDeadline(dctx, t.deadline)
	defer cancel()
	// A single participant may be committed in one phase, once this node
	// has confirmed it still leads: the confirmation round runs while the
	// participant prepares (t takes no more enlistments already).
	var confirmed chan confirmation
	if len(parts) == 1 && len(msgs) == 0 {
		confirmed = make(chan confirmation, 1)
		if !c.goroutine(func() {
			term, err := c.confirm.confirm(ctx)
			confirmed <- confirmation{term, err}
		}) {
			confirmed <- confirmation{err: context.Canceled} // the engine stops
		}
	}
	votes := c.prepareAll(ctx, t, parts)

	var yes []*verdictv1.ParticipantRef
	for _, v := range votes {
		switch v.vote {
		case verdictv1.Vote_VOTE_YES:
			yes = append(yes, v.part)
		case verdictv1.Vote_VOTE_READ_ONLY:
		default:
			c.decideAbort(t, parts, v.cause, v.reason)
			return
		}
	}
	if abortRequested := c.active.abortRequest(t); abortRequested != "" {
		c.decideAbort(t, parts, AbortInitiator, abortRequested)
		return
	}
	if term, ok := c.leaderTerm(); !ok || term != t.term {
		c.decideAbort(t, parts, AbortLeadership, "leadership changed before the decision was logged")
		return
	}
	// Staged messages need the COMMIT record (they travel in it, and
	// phase 2 publishes them from it): no shortcut skips logging then.
	if len(msgs) == 0 {
		switch len(yes) {
		case 0:
			// Every participant was read-only: nothing to commit, nothing logged.
			c.finish(t, verdictv1.Outcome_OUTCOME_COMMITTED, "")
			c.obs.Committed(CommitReadOnly, t.committing)
			c.timeline.finish(t.id)
			c.emit(EventCommitted, t.id, verdictv1.Outcome_OUTCOME_COMMITTED, "", parts)
			return
		case 1:
			if len(parts) == 1 {
				// A deposed leader that has not noticed yet must send no
				// Commit: a newer one may answer for this transaction.
				if r := <-confirmed; r.err != nil || r.term != t.term {
					c.decideAbort(t, parts, AbortLeadership, "leadership could not be confirmed before a one-phase commit")
					return
				}
				if c.CommitOnePhase(dctx, t, yes[0]) {
					return
				}
				// The participant may have committed already: from here on
				// the transaction must never be aborted.
				c.CommitLogged(t, yes, parts, nil, true)
				return
			}
		}
	}
	c.CommitLogged(t, yes, parts, msgs, false)
}

// confirmation is the result of a leadership confirmation round.
type confirmation struct {
	term uint64
	err  error
}

// CommitOnePhase commits a single-participant transaction without waiting
// for a log record: the participant's acknowledgement is the decision,
// recorded lazily with the next DONE batch (Done.one_phase), so that a
// later leader answers COMMITTED for it. It reports false if the
// participant could not be told, and the caller logs COMMIT so that
// recovery delivers it. A leader that dies between the acknowledgement and
// the record leaves a committed transaction no later leader finds: what is
// answered for it then (never "aborted" to one who could be misled) is in
// unknown.go.
func (c *Engine) CommitOnePhase(dctx context.Context, t *activeTx, p *verdictv1.ParticipantRef) bool {
	ctx, cancel := context.WithTimeout(dctx, 2*time.Second)
	defer cancel()
	if err := c.parts.Decide(ctx, p.GetAddress(), verdictv1.Outcome_OUTCOME_COMMITTED, []string{t.id}); err != nil {
		c.cfg.log.Warn("one-phase commit not acknowledged; logging the decision", "txid", t.id, "participant", p.GetName(), "err", err)
		return false
	}
	c.delivery.recordOnePhase(t.id, p, c.cfg.clock.Now())
	c.finish(t, verdictv1.Outcome_OUTCOME_COMMITTED, "")
	c.obs.Committed(CommitOnePhase, t.committing)
	c.timeline.add(t.id, eventAck, p.GetName(), "one-phase commit acknowledged")
	c.timeline.finish(t.id)
	if c.pub != nil { // no slice built for nothing
		c.emit(EventCommitted, t.id, verdictv1.Outcome_OUTCOME_COMMITTED, "", []*verdictv1.ParticipantRef{p})
	}
	return true
}

// CommitLogged appends COMMIT, with the staged messages msgs, and, once
// applied, answers and starts phase 2. committing means a participant may
// have committed already (a one-phase commit whose acknowledgement was
// lost): then an abort is never decided.
func (c *Engine) CommitLogged(t *activeTx, yes, parts []*verdictv1.ParticipantRef, msgs []*verdictv1.StagedMessage, committing bool) {
	ctx, cancel := context.WithTimeout(c.ctx, DecisionTimeout)
	defer cancel()
	rec := decisionRecord(t.id, verdictv1.Outcome_OUTCOME_COMMITTED, yes, "", c.cfg.clock.Now(), t.deadline)
	rec.GetDecision().Term = t.term
	rec.GetDecision().Messages = msgs
	res, err := c.prop.submit(ctx, rec, true)
	switch {
	case errors.Is(err, ErrNotLeader) && !committing:
		// Not in the log, and never will be: safe to abort.
		c.decideAbort(t, parts, AbortLeadership, "leadership lost before the decision was logged")
		return
	case err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost):
		// Still the leader, but the COMMIT may or may not be in the log:
		// settle it while the transaction stays PREPARING (Outcome answers
		// PENDING, a retried Commit waits).
		if !committing {
			rec = decisionRecord(t.id, verdictv1.Outcome_OUTCOME_ABORTED, yes,
				"the commit decision could not be confirmed in time", c.cfg.clock.Now(), t.deadline)
		}
		res, err = c.settle(t, rec)
	}
	if err != nil {
		// Leadership lost with the decision in flight: the next leader
		// knows it from its log, or presumes abort if it never got there.
		c.cfg.log.Warn("commit decision outcome unknown", "txid", t.id, "err", err)
		c.finish(t, verdictv1.Outcome_OUTCOME_UNSPECIFIED, err.Error())
		return
	}
	if h := c.cfg.hooks; h != nil && h.AfterCommitApplied != nil && res.Outcome == verdictv1.Outcome_OUTCOME_COMMITTED && !h.AfterCommitApplied(c.ctx, t.id) {
		c.finish(t, verdictv1.Outcome_OUTCOME_UNSPECIFIED, "node stopped")
		return
	}
	c.finish(t, res.Outcome, res.Reason)
	switch res.Outcome {
	case verdictv1.Outcome_OUTCOME_COMMITTED:
		c.obs.Committed(CommitLogged, t.committing)
		c.emit(EventCommitted, t.id, res.Outcome, res.Reason, yes)
		if h := c.cfg.hooks; h != nil && h.BeforePhase2 != nil && !h.BeforePhase2(t.id) {
			return
		}
		c.delivery.deliverTraced(t.id, res.Outcome, phase2Targets(res.Outcome, yes, len(msgs) > 0), t.trace)
	case verdictv1.Outcome_OUTCOME_ABORTED:
		c.obs.Aborted(AbortUnconfirmed)
		c.emit(EventAborted, t.id, res.Outcome, res.Reason, parts)
		c.delivery.deliverTraced(t.id, res.Outcome, parts, t.trace)
	}
}

// settle learns the fate of a COMMIT whose proposal timed out while this
// node stayed leader. It proposes rec (an ABORT, or the COMMIT again when a
// participant may have committed already) and waits: the first decision in
// the log wins, so the recorded outcome it gets back is the truth, whichever
// record got there first. It gives up only when leadership is lost.
func (c *Engine) settle(t *activeTx, rec *logv1.LogRecord) (table.Result, error) {
	for {
		if !c.stillLeader(t.term) {
			return table.Result{}, ErrLeadershipLost
		}
		ctx, cancel := context.WithTimeout(c.ctx, DecisionTimeout)
		res, err := c.prop.submit(ctx, rec, true)
		cancel()
		if err == nil {
			return res, nil
		}
		if c.ctx.Err() != nil || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost) || errors.Is(err, ErrStopped) {
			return table.Result{}, err
		}
	}
}

func (c *Engine) decideAbort(t *activeTx, parts []*verdictv1.ParticipantRef, cause AbortCause, reason string) {
	c.finish(t, verdictv1.Outcome_OUTCOME_ABORTED, reason)
	c.recordAbort(t, parts, cause, reason)
}

// prepareAll sends Prepare, in parallel, to every participant of t that
// did not enlist with its YES (those count as YES: their work is prepared
// and sealed). An error or a missed deadline counts as a NO vote.
func (c *Engine) prepareAll(ctx context.Context, t *activeTx, parts []*verdictv1.ParticipantRef) []vote {
	votes := make([]vote, len(parts))
	var ask []int
	for i, p := range parts {
		if c.active.votedEarly(t, p.GetName()) {
			votes[i] = vote{part: p, vote: verdictv1.Vote_VOTE_YES}
			continue
		}
		ask = append(ask, i)
	}
	if len(ask) == 0 {
		return votes
	}
	var wg sync.WaitGroup
	last := len(ask) - 1
	for _, i := range ask[:last] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			votes[i] = c.prepareOne(ctx, t.id, parts[i])
			c.timeline.add(t.id, eventVote, parts[i].GetName(), voteDetail(votes[i]))
		}()
	}
	i := ask[last]
	votes[i] = c.prepareOne(ctx, t.id, parts[i])
	c.timeline.add(t.id, eventVote, parts[i].GetName(), voteDetail(votes[i]))
	wg.Wait()
	return votes
}

func (c *Engine) prepareOne(ctx context.Context, id string, p *verdictv1.ParticipantRef) vote {
	resp, err := c.parts.Prepare(ctx, p.GetAddress(), id)
	if err == nil {
		c.delivery.reachable(p.GetAddress())
	}
	switch {
	case err == nil && resp.GetVote() == verdictv1.Vote_VOTE_NO:
		return vote{part: p, vote: verdictv1.Vote_VOTE_NO, cause: AbortVoteNo, reason: reasonf("participant %s voted no: %s", p.GetName(), resp.GetReason())}
	case err == nil && (resp.GetVote() == verdictv1.Vote_VOTE_YES || resp.GetVote() == verdictv1.Vote_VOTE_READ_ONLY):
		return vote{part: p, vote: resp.GetVote()}
	case err == nil:
		return vote{part: p, vote: verdictv1.Vote_VOTE_NO, cause: AbortPrepareError, reason: reasonf("participant %s gave no valid vote", p.GetName())}
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return vote{part: p, vote: verdictv1.Vote_VOTE_NO, cause: AbortDeadline, reason: reasonf("participant %s did not vote before the deadline", p.GetName())}
	default:
		return vote{part: p, vote: verdictv1.Vote_VOTE_NO, cause: AbortPrepareError, reason: reasonf("participant %s: prepare failed: %v", p.GetName(), err)}
	}
}
