package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/abortinfo"
	"github.com/verdict-tx/verdict/internal/staged"
	"github.com/verdict-tx/verdict/internal/txmeta"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// callGrace is how long after the transaction's deadline (or after the
// call, if later) Commit and Abort keep asking: by then an undecided
// transaction has been aborted by the coordinator, so a cluster that answers
// at all answers with the outcome.
const callGrace = 5 * time.Second

// Tx is a transaction begun by Client.Begin. Its methods are safe for
// concurrent use. Commit or Abort ends it; after that both return ErrTxDone.
type Tx struct {
	c        *Client
	id       string
	coords   []string
	deadline time.Time
	// term is the leader term the transaction is stamped with, if the
	// client began it itself (WithLocalBegin); 0 if Begin asked.
	term uint64
	done atomic.Bool
	// span is the transaction's span (WithTracerProvider), set by Begin.
	span txSpan

	mu           sync.Mutex
	participants map[Participant]struct{}
	messages     []*verdictv1.StagedMessage // staged by Publish, sent with Commit
}

func newTx(c *Client, id string, coords []string, deadline time.Time) *Tx {
	return &Tx{c: c, id: id, coords: coords, deadline: deadline, participants: make(map[Participant]struct{})}
}

// ID returns the transaction id.
func (tx *Tx) ID() string { return tx.id }

// Deadline returns the time after which the coordinator aborts the
// transaction if it has not committed.
func (tx *Tx) Deadline() time.Time { return tx.deadline }

func (tx *Tx) meta() txmeta.Tx {
	return txmeta.Tx{ID: tx.id, Coordinators: tx.coords, Deadline: tx.deadline, Term: tx.term}
}

// stamp is the transaction's stamp, if the client began it itself.
func (tx *Tx) stamp() *verdictv1.TxStamp {
	if tx.term == 0 {
		return nil
	}
	return &verdictv1.TxStamp{Term: tx.term, DeadlineUnixMs: tx.deadline.UnixMilli()}
}

// addParticipant records a participant from a "name=address" header value.
func (tx *Tx) addParticipant(v string) {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return
	}
	tx.mu.Lock()
	tx.participants[Participant{Name: name, Address: addr}] = struct{}{}
	tx.mu.Unlock()
}

// Participants returns the participants this transaction has seen enlist,
// sorted by name.
func (tx *Tx) Participants() []Participant {
	tx.mu.Lock()
	ps := slices.Collect(maps.Keys(tx.participants))
	tx.mu.Unlock()
	slices.SortFunc(ps, func(a, b Participant) int {
		return strings.Compare(a.Name+"="+a.Address, b.Name+"="+b.Address)
	})
	return ps
}

// Commit asks the coordinator to commit the transaction and returns nil once
// it is COMMITTED: every participant will apply the work. It returns an
// *AbortedError when the transaction aborted, and an *AmbiguousError when it
// could not learn the outcome (the transaction may have committed: never
// treat that as an abort; Client.Outcome can learn it later). Any other
// error (a request rejected at the first attempt) means the coordinator did
// not act on this Commit; a rejection after an attempt whose outcome is
// unknown is an *AmbiguousError.
//
// Commit is idempotent at the coordinator, so on errors that leave the
// outcome unknown (Unavailable, DeadlineExceeded, a lost connection, ...) it
// asks again, with backoff, until ctx is done or the transaction's deadline
// plus a few seconds have passed. Every attempt after the first is marked
// as a retry (CommitRequest.retry): an earlier one may have reached a
// leader that committed the transaction in one phase and then lost office,
// and a leader that does not know the transaction then answers that it
// cannot know (an *AmbiguousError at once) instead of presuming an abort.
//
// If ctx is already done when Commit is called, nothing is sent, ctx's error
// is returned and the transaction is not ended.
func (tx *Tx) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !tx.done.CompareAndSwap(false, true) {
		return ErrTxDone
	}
	req := &verdictv1.CommitRequest{Txid: tx.id, Participants: participantRefs(tx.Participants()), Stamp: tx.stamp()}
	tx.mu.Lock()
	req.Messages = tx.messages
	tx.mu.Unlock()
	actx, cancel := tx.callContext(tx.span.in(ctx))
	defer cancel()
	err := tx.commit(actx, req)
	tx.span.end(err)
	return err
}

// commit sends req until the outcome is known (see Commit).
func (tx *Tx) commit(actx context.Context, req *verdictv1.CommitRequest) error {
	var outcome error
	exhausted, err := retry(actx, func() error {
		resp, err := tx.c.coord.Commit(actx, req)
		// Set already if the connection sent this attempt more than once.
		resent := req.GetRetry()
		req.Retry = true
		if err != nil {
			if abortinfo.Marked(err) {
				// Refused for a limit, and aborted at once.
				outcome = &AbortedError{TxID: tx.id, Reason: status.Convert(err).Message(), Err: err}
				return nil
			}
			if resent && !retryable(err) {
				// Rejected now, but an earlier attempt may have
				// reached a leader that committed.
				outcome = tx.ambiguous(err)
				return nil
			}
			return err
		}
		tx.c.learnTerm(resp.GetTerm(), false)
		switch resp.GetOutcome() {
		case verdictv1.Outcome_OUTCOME_COMMITTED:
			outcome = nil
		case verdictv1.Outcome_OUTCOME_ABORTED:
			outcome = &AbortedError{TxID: tx.id, Reason: resp.GetReason()}
		case verdictv1.Outcome_OUTCOME_EXPIRED:
			// Only possible for a Commit retried past the retention
			// window: the outcome is gone, asking again cannot help.
			outcome = tx.ambiguous(errors.New("verdict: the coordinator no longer keeps the outcome (expired)"))
		case verdictv1.Outcome_OUTCOME_UNKNOWN:
			outcome = tx.ambiguous(fmt.Errorf("%w: %s", errUnknownToCoordinator, resp.GetReason()))
		default:
			// PENDING is impossible by protocol; keep asking.
			return fmt.Errorf("verdict: coordinator answered outcome %v to commit", resp.GetOutcome())
		}
		return nil
	})
	if exhausted || err != nil || outcome != nil {
		tx.c.forgetTerm(tx.term)
	}
	switch {
	case exhausted:
		return tx.ambiguous(err)
	case err != nil:
		return fmt.Errorf("verdict: commit %s: %w", tx.id, err)
	}
	return outcome
}

// errUnknownToCoordinator is the cause of the *AmbiguousError of a Commit
// that the coordinator answered OUTCOME_UNKNOWN.
var errUnknownToCoordinator = errors.New("verdict: the coordinator cannot know the outcome " +
	"(a leader that has since lost office may have committed it in one phase); its participant holds the truth")

// ambiguous returns the *AmbiguousError of this transaction with cause err.
func (tx *Tx) ambiguous(err error) *AmbiguousError {
	return &AmbiguousError{TxID: tx.id, Participants: tx.Participants(), Err: err}
}

// callContext bounds a Commit or Abort: ctx, and the transaction's deadline
// plus callGrace. A call begun late still gets the grace period to hear the
// answer (ABORTED, since the deadline passed).
func (tx *Tx) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := tx.deadline.Add(callGrace)
	if late := time.Now().Add(callGrace); limit.Before(late) {
		limit = late
	}
	return context.WithDeadline(ctx, limit)
}

// Abort asks the coordinator to abort the transaction and returns nil once
// it has confirmed the abort. Reason is recorded and reported to
// operators. Like Commit, it waits out a leader change until ctx is done or
// the transaction's deadline plus a few seconds have passed. Abort ends the
// transaction even when it fails: the coordinator aborts it at its
// deadline anyway (presumed abort), unless Commit was called. Abort returns
// ErrTxDone after Commit or Abort.
func (tx *Tx) Abort(ctx context.Context, reason string) error {
	if !tx.done.CompareAndSwap(false, true) {
		return ErrTxDone
	}
	// Its work may have failed on a stale stamp: the next Begin asks.
	tx.c.forgetTerm(tx.term)
	actx, cancel := tx.callContext(tx.span.in(ctx))
	defer cancel()
	err := tx.abort(actx, reason)
	tx.span.end(err)
	return err
}

// abort asks the coordinator to abort until it confirms (see Abort).
func (tx *Tx) abort(actx context.Context, reason string) error {
	req := &verdictv1.AbortRequest{Txid: tx.id, Reason: reason}
	var outcome error
	_, err := retry(actx, func() error {
		resp, err := tx.c.coord.Abort(actx, req)
		if err != nil {
			return err
		}
		switch o := resp.GetOutcome(); o {
		case verdictv1.Outcome_OUTCOME_ABORTED:
			outcome = nil
		case verdictv1.Outcome_OUTCOME_COMMITTED:
			outcome = errors.New("the transaction already committed")
		default:
			outcome = fmt.Errorf("the coordinator answered %v (%s)", o, resp.GetReason())
		}
		return nil
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return fmt.Errorf("verdict: abort %s: %w", tx.id, err)
	}
	return nil
}

// Context returns a copy of ctx that carries tx. Calls made with it through
// UnaryClientInterceptor or StreamClientInterceptor run under tx, and
// natsmsg.Stage with it stages its message in tx (Publish).
func (tx *Tx) Context(ctx context.Context) context.Context {
	return staged.NewContext(tx.span.in(ctx), txBuffer{tx})
}

// FromContext returns the transaction ctx carries, if any.
func FromContext(ctx context.Context) (*Tx, bool) {
	b, ok := staged.FromContext(ctx)
	if !ok {
		return nil, false
	}
	tb, ok := b.(txBuffer)
	return tb.tx, ok
}
