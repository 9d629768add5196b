package coordinator

import (
	"context"
	"errors"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/txlog"
)

// raftLog is the node's Raft log as the engine uses it (engine.Log): the
// log's errors are marked with the engine's sentinels, their text kept.
type raftLog struct{ node *txlog.Node }

var _ engine.Log = raftLog{}

func (l raftLog) Propose(ctx context.Context, data []byte) (any, error) {
	v, err := l.node.Propose(ctx, data)
	return v, logError(err)
}

func (l raftLog) ReadIndex(ctx context.Context) error { return logError(l.node.ReadIndex(ctx)) }

func (l raftLog) LeaderTerm() (uint64, bool) { return l.node.LeaderTerm() }

// logError marks err, from the Raft log, with the engine's error of the
// same meaning.
func logError(err error) error {
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, txlog.ErrNotLeader):
		kind = engine.ErrNotLeader
	case errors.Is(err, txlog.ErrLeadershipLost):
		kind = engine.ErrLeadershipLost
	case errors.Is(err, txlog.ErrStopped):
		kind = engine.ErrStopped
	default:
		return err
	}
	return &markedError{err: err, kind: kind}
}

// markedError is err, which errors.Is also finds to be kind.
type markedError struct{ err, kind error }

func (e *markedError) Error() string        { return e.err.Error() }
func (e *markedError) Unwrap() error        { return e.err }
func (e *markedError) Is(target error) bool { return target == e.kind }
