package engine

import (
	"context"
	"time"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
)

// TestingKnobs are fault-injection points for tests (this package's and
// the node's): each non-nil function is called at the named point of the
// engine. Production configurations leave Config.Knobs nil, and every call
// site checks for it.
type TestingKnobs struct {
	// AfterCommitApplied is called when the COMMIT record of a transaction
	// this node decided has been applied, before the Commit call is
	// answered. ctx is the engine's, which Stop cancels first: a hook that
	// waits for it and returns false is a crash at this point (the caller
	// learns no outcome, phase 2 is not started).
	AfterCommitApplied func(ctx context.Context, txid string) bool
	// BeforePhase2 is called once a committed transaction is answered and
	// before its phase 2 starts; false leaves phase 2 to the next leader,
	// as a crash right after the answer does.
	BeforePhase2 func(txid string) bool
	// AfterPublished is called once JetStream has acknowledged every
	// staged message of a committed transaction, before the leader counts
	// its messages as delivered; false counts them as not delivered, as a
	// crash between the publication and DONE does. ctx is the engine's.
	AfterPublished func(ctx context.Context, txid string) bool
	// HeuristicApplied is called on the ready leader when a heuristic
	// resolution of participant name of txid has been applied, before the
	// leader reacts to it; false skips the reaction, as a leader deposed
	// at this point does. It runs on the Raft apply loop: a hook that
	// blocks holds back every later entry of this node.
	HeuristicApplied func(txid, name string) bool
	// ProposeDone is called with the txids and one-phase commits of a
	// DONE record before it is proposed; false loses the proposal, as a
	// leader change that drops it does.
	ProposeDone func(txids []string, onePhase []*logv1.OnePhase) bool
	// DropDone, if it reports true for a DONE record about to be proposed,
	// makes its proposal fail as raft dropping it does while this node
	// still leads (during a leadership transfer, say).
	DropDone func(txids []string, onePhase []*logv1.OnePhase) bool
	// FirstRetry, if not zero, is phase 2's first backoff (doubling up to
	// the maximum backoff), instead of retryBackoffBase.
	FirstRetry time.Duration
	// Monotonic, if not nil, replaces the monotonic clock that bounds the
	// pace of the log's time (logclock.go): a script that drives the
	// engine's clock drives both.
	Monotonic func() time.Time
	// SkipApply, if set, makes the state machine skip the log entries
	// (index, and the batch they hold) it reports true for: a replica
	// whose apply went wrong, which the state-hash checks must find.
	SkipApply func(index uint64, batch *logv1.LogBatch) bool
}
