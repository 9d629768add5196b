package participant

import (
	"context"
	"fmt"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Vote is a participant's answer to Prepare.
type Vote int

// Votes. The zero Vote is not valid and counts as VoteNo.
const (
	// VoteYes: the work is durable and will be committed if asked, even
	// after a crash of the participant.
	VoteYes Vote = iota + 1
	// VoteNo: the transaction must abort. The participant may discard the
	// work at once.
	VoteNo
	// VoteReadOnly: the participant changed nothing and leaves phase 2.
	VoteReadOnly
)

func (v Vote) String() string {
	switch v {
	case VoteYes:
		return "yes"
	case VoteNo:
		return "no"
	case VoteReadOnly:
		return "read-only"
	}
	return fmt.Sprintf("Vote(%d)", int(v))
}

func (v Vote) proto() verdictv1.Vote {
	switch v {
	case VoteYes:
		return verdictv1.Vote_VOTE_YES
	case VoteReadOnly:
		return verdictv1.Vote_VOTE_READ_ONLY
	}
	return verdictv1.Vote_VOTE_NO
}

// Resource is the transactional resource a participant manages: what an
// adapter (Postgres, NATS, ...) implements. The Server calls its methods
// concurrently, for different transactions and possibly for the same one
// (a retried Commit racing the recovery loop, for instance).
type Resource interface {
	// Prepare makes the work done under txid durable and votes. An error
	// counts as VoteNo, its text being the reason. After VoteYes the
	// resource must be able to commit txid even after its own crash.
	Prepare(ctx context.Context, txid string) (Vote, error)
	// Commit applies the work of a prepared txid. It is idempotent: a
	// txid committed before succeeds again. The Server never calls it
	// for a txid aborted here (by Abort or by recovery learning
	// ABORTED) while it remembers the abort (until a minute past the
	// transaction's deadline, or an hour after its creation when the
	// deadline is unknown here; at least a minute): it refuses that
	// Commit itself (FailedPrecondition). A resource should still fail the
	// Commit of a txid it rolled back, as the postgres adapter does,
	// rather than answer nil for a txid it no longer knows: the
	// coordinator counts an acknowledged Commit as committed.
	Commit(ctx context.Context, txid string) error
	// Abort discards the work of txid. It is idempotent, and succeeds for
	// a txid it does not know.
	Abort(ctx context.Context, txid string) error
}

// Recoverer is an optional ability of a Resource: listing the transactions
// it holds prepared, so that the recovery loop can ask the coordinator for
// their outcome. A resource whose prepared state survives a crash (Postgres
// PREPARE TRANSACTION) should implement it.
type Recoverer interface {
	Prepared(ctx context.Context) ([]string, error)
}
