package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txmeta"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Commit retry schedule. Commit keeps asking until the transaction's
// deadline plus commitGrace: by then an undecided transaction has been
// aborted by the coordinator, so a cluster that answers at all answers with
// the outcome.
const (
	commitGrace        = 5 * time.Second
	commitFirstBackoff = 10 * time.Millisecond
	// The cap is short so that, after a leader change, the first retry at
	// the new leader comes soon after it is elected.
	commitMaxBackoff = 200 * time.Millisecond
)

// Tx is a transaction begun by Client.Begin. Its methods are safe for
// concurrent use. Commit or Abort ends it; after that both return ErrTxDone.
type Tx struct {
	c        *Client
	id       string
	coords   []string
	deadline time.Time
	done     atomic.Bool

	mu           sync.Mutex
	participants map[participantKey]struct{}
	messages     []*verdictv1.StagedMessage // staged by Publish, sent with Commit
}

type participantKey struct{ name, address string }

func newTx(c *Client, id string, coords []string, deadline time.Time) *Tx {
	return &Tx{c: c, id: id, coords: coords, deadline: deadline, participants: make(map[participantKey]struct{})}
}

// ID returns the transaction id.
func (tx *Tx) ID() string { return tx.id }

// Deadline returns the time after which the coordinator aborts the
// transaction if it has not committed.
func (tx *Tx) Deadline() time.Time { return tx.deadline }

func (tx *Tx) meta() txmeta.Tx {
	return txmeta.Tx{ID: tx.id, Coordinators: tx.coords, Deadline: tx.deadline}
}

// addParticipant records a participant from a "name=address" header value.
func (tx *Tx) addParticipant(v string) {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return
	}
	tx.mu.Lock()
	tx.participants[participantKey{name, addr}] = struct{}{}
	tx.mu.Unlock()
}

// Participants returns the participants this transaction has seen enlist,
// sorted by name.
func (tx *Tx) Participants() []*verdictv1.ParticipantRef {
	tx.mu.Lock()
	keys := slices.Collect(maps.Keys(tx.participants))
	tx.mu.Unlock()
	slices.SortFunc(keys, func(a, b participantKey) int {
		return strings.Compare(a.name+"="+a.address, b.name+"="+b.address)
	})
	refs := make([]*verdictv1.ParticipantRef, len(keys))
	for i, k := range keys {
		refs[i] = &verdictv1.ParticipantRef{Name: k.name, Address: k.address}
	}
	return refs
}

// Commit asks the coordinator to commit the transaction and returns nil once
// it is COMMITTED: every participant will apply the work. It returns an
// *AbortedError when the transaction aborted, and an *AmbiguousError when it
// could not learn the outcome (the transaction may have committed: never
// treat that as an abort). Any other error (a rejected request) means the
// coordinator did not act on this Commit.
//
// Commit is idempotent at the coordinator, so on errors that leave the
// outcome unknown (Unavailable, DeadlineExceeded, a lost connection, ...) it
// asks again, with backoff, until ctx is done or the transaction's deadline
// plus a few seconds have passed.
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
	req := &verdictv1.CommitRequest{Txid: tx.id, Participants: tx.Participants()}
	tx.mu.Lock()
	req.Messages = tx.messages
	tx.mu.Unlock()
	// A Commit begun late still gets the grace period to hear the answer
	// (ABORTED, since the deadline passed).
	limit := tx.deadline.Add(commitGrace)
	if late := time.Now().Add(commitGrace); limit.Before(late) {
		limit = late
	}
	actx, cancel := context.WithDeadline(ctx, limit)
	defer cancel()
	backoff := commitFirstBackoff
	for {
		resp, err := tx.c.coord.Commit(actx, req)
		if err == nil {
			switch resp.GetOutcome() {
			case verdictv1.Outcome_OUTCOME_COMMITTED:
				return nil
			case verdictv1.Outcome_OUTCOME_ABORTED:
				return &AbortedError{TxID: tx.id, Reason: resp.GetReason()}
			case verdictv1.Outcome_OUTCOME_EXPIRED:
				// Only possible for a Commit retried past the retention
				// window: the outcome is gone, asking again cannot help.
				return &AmbiguousError{TxID: tx.id, Err: errors.New("verdict: the coordinator no longer keeps the outcome (expired)")}
			default:
				// PENDING is impossible by protocol; keep asking.
				err = fmt.Errorf("verdict: coordinator answered outcome %v to commit", resp.GetOutcome())
			}
		} else if !commitRetryable(err) {
			return fmt.Errorf("verdict: commit %s: %w", tx.id, err)
		}
		if ctx.Err() != nil || actx.Err() != nil {
			return &AmbiguousError{TxID: tx.id, Err: err}
		}
		// Full jitter keeps many initiators from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-actx.Done():
			t.Stop()
			return &AmbiguousError{TxID: tx.id, Err: err}
		case <-t.C:
		}
		backoff = min(2*backoff, commitMaxBackoff)
	}
}

// commitRetryable reports whether a Commit error leaves the outcome unknown,
// so that Commit must ask again. Only codes that say the coordinator rejected
// the request without acting are final.
func commitRetryable(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition,
		codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
		codes.Unimplemented, codes.OutOfRange, codes.ResourceExhausted:
		return false
	}
	return true
}

// Abort asks the coordinator to abort the transaction. Reason is recorded
// and reported to operators. Abort ends the transaction even when the call
// fails: the coordinator aborts it at its deadline anyway (presumed abort).
// Abort returns ErrTxDone after Commit or Abort.
func (tx *Tx) Abort(ctx context.Context, reason string) error {
	if !tx.done.CompareAndSwap(false, true) {
		return ErrTxDone
	}
	resp, err := tx.c.coord.Abort(ctx, &verdictv1.AbortRequest{Txid: tx.id, Reason: reason})
	if err != nil {
		return fmt.Errorf("verdict: abort %s: %w", tx.id, err)
	}
	if resp.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
		return fmt.Errorf("verdict: abort %s: the transaction already committed", tx.id)
	}
	return nil
}

type txKey struct{}

// Context returns a copy of ctx that carries tx. Calls made with it through
// UnaryClientInterceptor or StreamClientInterceptor run under tx.
func (tx *Tx) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// FromContext returns the transaction ctx carries, if any.
func FromContext(ctx context.Context) (*Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(*Tx)
	return tx, ok
}
