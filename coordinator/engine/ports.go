package engine

import (
	"context"
	"errors"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// What the engine uses, defined here by the engine for what it needs of it.
// The node (package coordinator) gives it the Raft log, the participants
// over gRPC, the NATS publisher and the Prometheus metrics; the engine's
// scripted tests give it fakes of each.

// Log is the replicated log the engine records its decisions in.
type Log interface {
	// Propose appends data and waits until this node has applied it,
	// returning what the state machine's Apply returned. An error wraps
	// ErrNotLeader when nothing was proposed (this node does not lead),
	// ErrLeadershipLost when leadership was lost after the proposal (the
	// entry may or may not be committed), ErrStopped when the log stops.
	Propose(ctx context.Context, data []byte) (any, error)
	// ReadIndex returns once this node has confirmed, with a quorum, that
	// it still leads, and has applied every entry committed before the
	// call.
	ReadIndex(ctx context.Context) error
	// LeaderTerm is the current term and whether this node is its ready
	// leader (it has applied an entry of its own term).
	LeaderTerm() (term uint64, ready bool)
}

// The errors a Log wraps (see Log.Propose).
var (
	// ErrLeadershipLost: the proposal was made, and leadership lost before
	// it was applied here; the entry may or may not be committed.
	ErrLeadershipLost = errors.New("verdict: leadership lost before the entry was applied")
	// ErrStopped: the log or the engine stopped.
	ErrStopped = errors.New("verdict: stopped")
)

// StateMachine is what the log applies its committed entries to, on every
// node (Engine.StateMachine): the transaction table, behind a lock.
type StateMachine interface {
	Apply(index, term uint64, data []byte) any
	Snapshot() ([]byte, error)
	Restore(index uint64, data []byte) error
	CheckSnapshot(data []byte) error
}

// Participants reaches the participants of transactions by address.
type Participants interface {
	// Prepare asks the participant at addr for its vote on txid. An error
	// that wraps context.DeadlineExceeded is a participant that did not
	// answer in time; any other error's text says why it failed.
	Prepare(ctx context.Context, addr, txid string) (*verdictv1.PrepareVote, error)
	// Decide tells the participant at addr the outcome (COMMITTED, or
	// ABORTED) of txids.
	Decide(ctx context.Context, addr string, o verdictv1.Outcome, txids []string) error
	// Admit takes addr into use for a new transaction; false if addr is
	// new and no more addresses may be held.
	Admit(addr string) bool
	// ReleaseIdle lets go of the addresses unused for the idle timeout,
	// but those in held.
	ReleaseIdle(held map[string]bool)
}

// Staged is the staged messages of one committed transaction, to publish.
type Staged struct {
	Txid     string
	Messages []*verdictv1.StagedMessage
}

// Publisher publishes staged messages and lifecycle events (to NATS
// JetStream, at the node). A nil Publisher is an engine without NATS:
// staging is refused, and no event goes out.
type Publisher interface {
	// Publish publishes the messages of each transaction, message n of
	// transaction t with the id "t/n" (so a publication repeated within
	// the stream's duplicate window is stored once), and waits for their
	// acknowledgements. It returns one error per transaction: nil when
	// every message of it is acknowledged.
	Publish(ctx context.Context, txs []Staged) []error
	// Emit publishes a lifecycle event, best effort; it never blocks.
	Emit(Event)
}

// Event is a transaction's lifecycle event.
type Event struct {
	Kind         string // EventCommitted, ...
	Txid         string
	Outcome      verdictv1.Outcome
	Reason       string
	Participants []*verdictv1.ParticipantRef
	Time         time.Time
}

// Event kinds.
const (
	// EventCommitted: the leader decided COMMIT (logged, one-phase or
	// read-only) and answered the initiator.
	EventCommitted = "committed"
	// EventAborted: the leader decided ABORT (a NO vote, an error, the
	// deadline, the initiator's Abort).
	EventAborted = "aborted"
	// EventStuck: phase 2 of a decided transaction has failed to reach a
	// participant (or JetStream) for longer than the stuck threshold.
	EventStuck = "stuck"
	// EventHeuristic: an operator resolved a participant's phase 2 by hand
	// (tx forget); the reason names the participant, the operator and why.
	EventHeuristic = "heuristic"
	// EventStateMismatch: the leader's state check found a member whose
	// state differs from the others' at a checkpoint (no txid; the reason
	// names the member and the checkpoint).
	EventStateMismatch = "state_mismatch"
)

// Observer counts the engine's work (the node's metrics). Its methods must
// not block.
type Observer interface {
	// Committed counts a commit by path, begun (Commit called) at began.
	Committed(path CommitPath, began time.Time)
	// Aborted counts an abort by cause.
	Aborted(cause AbortCause)
	// Retried counts a phase-2 delivery attempt after a failed one.
	Retried()
}

// CommitPath is how a transaction committed.
type CommitPath string

// Commit paths.
const (
	CommitLogged   CommitPath = "logged"    // a COMMIT record, then phase 2
	CommitOnePhase CommitPath = "one_phase" // a single participant: nothing logged first
	CommitReadOnly CommitPath = "read_only" // every participant voted read-only
)

// AbortCause is why a transaction was aborted: one of a small fixed set,
// never free text (the reason a client hears says more).
type AbortCause string

// Abort causes.
const (
	// AbortVoteNo: a participant voted NO.
	AbortVoteNo AbortCause = "vote_no"
	// AbortPrepareError: Prepare failed, or gave no valid vote.
	AbortPrepareError AbortCause = "prepare_error"
	// AbortDeadline: the deadline passed before Commit, or before every
	// vote came.
	AbortDeadline AbortCause = "deadline"
	// AbortInitiator: the initiator called Abort.
	AbortInitiator AbortCause = "initiator"
	// AbortUnknownTx: Commit of a transaction this leader does not know
	// (presumed abort).
	AbortUnknownTx AbortCause = "unknown_tx"
	// AbortLeadership: leadership changed before the decision was logged.
	AbortLeadership AbortCause = "leadership_lost"
	// AbortRefused: Commit broke a limit (participants, staged bytes) or
	// staged messages without NATS.
	AbortRefused AbortCause = "refused"
	// AbortUnconfirmed: the COMMIT record could not be confirmed in time,
	// and the ABORT proposed to settle it came first.
	AbortUnconfirmed AbortCause = "unconfirmed"
)

// AbortCauses lists every AbortCause.
var AbortCauses = []AbortCause{AbortVoteNo, AbortPrepareError, AbortDeadline, AbortInitiator, AbortUnknownTx, AbortLeadership, AbortRefused, AbortUnconfirmed}

// nopObserver counts nothing.
type nopObserver struct{}

func (nopObserver) Committed(CommitPath, time.Time) {}
func (nopObserver) Aborted(AbortCause)              {}
func (nopObserver) Retried()                        {}

// Tracer traces the commit path: the node's is OpenTelemetry's (through
// internal/tracing); without one nothing is traced. The engine sees spans
// only as contexts and opaque references.
type Tracer interface {
	// Carry returns to (its deadline and cancellation) with the trace of
	// from: the decision outlives the Commit call that starts it.
	Carry(from, to context.Context) context.Context
	// Start starts a span named name about transaction txid, a child of
	// ctx's; end ends it, recording err if not nil.
	Start(ctx context.Context, name, txid string) (_ context.Context, end func(err error))
	// Ref names the span of ctx, for StartLinked; nil if untraced.
	Ref(ctx context.Context) SpanRef
	// StartLinked starts a span named name for one call that carries the
	// transactions txids, whose spans are refs (nil for untraced ones):
	// in the trace of the first traced one, linked to the others.
	StartLinked(ctx context.Context, name string, refs []SpanRef, txids []string) (_ context.Context, end func(err error))
}

// SpanRef is a Tracer's reference to a span.
type SpanRef any

type nopTracer struct{}

func (nopTracer) Carry(_, to context.Context) context.Context { return to }
func (nopTracer) Start(ctx context.Context, _, _ string) (context.Context, func(error)) {
	return ctx, func(error) {}
}
func (nopTracer) Ref(context.Context) SpanRef { return nil }
func (nopTracer) StartLinked(ctx context.Context, _ string, _ []SpanRef, _ []string) (context.Context, func(error)) {
	return ctx, func(error) {}
}
