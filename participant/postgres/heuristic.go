package postgres

import (
	"context"
	"errors"
	"fmt"
)

// ErrHeuristic is matched (errors.Is) by every *HeuristicError.
var ErrHeuristic = errors.New("verdict/postgres: heuristic outcome")

// Heuristic is what was found done to a prepared transaction behind the
// Resource's back.
type Heuristic int

// Heuristic outcomes.
const (
	// HeuristicRollback: asked to commit, the transaction was found rolled
	// back (its gid and its marker are gone): someone ran ROLLBACK
	// PREPARED. Its work is lost although the transaction committed
	// elsewhere.
	HeuristicRollback Heuristic = iota + 1
	// HeuristicCommit: asked to abort, the transaction was found committed
	// (its gid is gone, its marker is there): someone ran COMMIT PREPARED.
	HeuristicCommit
)

func (h Heuristic) String() string {
	switch h {
	case HeuristicRollback:
		return "rolled back"
	case HeuristicCommit:
		return "committed"
	}
	return fmt.Sprintf("Heuristic(%d)", int(h))
}

// HeuristicError reports a prepared transaction resolved by someone other
// than this Resource in the opposite way to the coordinator's decision:
// atomicity is broken for it, and an operator must repair the data. The
// Resource never hides one: Commit or Abort returns it (so the coordinator
// keeps the transaction undone, visible as stuck, until an operator
// resolves it), it is logged at error level, counted (Stats.Heuristic)
// and passed to Config.OnHeuristic.
type HeuristicError struct {
	TxID   string
	GID    string
	Branch string
	// Decision is the coordinator's decision: "commit" or "abort".
	Decision string
	// Found is what had been done instead.
	Found Heuristic
}

func (e *HeuristicError) Error() string {
	return fmt.Sprintf("verdict/postgres: heuristic outcome: transaction %s (gid %s) was %v behind the participant's back, but the decision is %s",
		e.TxID, e.GID, e.Found, e.Decision)
}

// Is makes errors.Is(err, ErrHeuristic) hold.
func (e *HeuristicError) Is(target error) bool { return target == ErrHeuristic }

// maxReported bounds the set of gids whose heuristic outcome was reported,
// so that a Commit redelivered many times is counted and called back once.
const maxReported = 4096

// heuristic reports a heuristic outcome of id and returns it as an error.
func (r *Resource) heuristic(ctx context.Context, id, gid, decision string, found Heuristic) error {
	e := &HeuristicError{TxID: id, GID: gid, Branch: r.cfg.Branch, Decision: decision, Found: found}
	r.mu.Lock()
	_, seen := r.reported[gid]
	if !seen {
		if len(r.reported) >= maxReported {
			clear(r.reported)
		}
		r.reported[gid] = struct{}{}
	}
	r.mu.Unlock()
	if seen {
		r.log.DebugContext(ctx, "verdict: heuristic outcome found again", "txid", id, "gid", gid)
		return e
	}
	r.stats.heuristic.Add(1)
	r.log.ErrorContext(ctx, "verdict: heuristic outcome: a prepared transaction was resolved behind the participant's back; an operator must repair the data",
		"txid", id, "gid", gid, "decision", decision, "found", found.String())
	if r.cfg.OnHeuristic != nil {
		r.cfg.OnHeuristic(e)
	}
	return e
}
