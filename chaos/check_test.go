package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/verdict-tx/verdict/chaos/journal"
)

// ledger is what the participants' journals say, read incrementally: the
// state of every transaction at every participant.
type ledger struct {
	readers map[string]*journal.Reader
	txs     map[string]map[string]journal.State // txid → participant → state
	// prepared counts the transactions each participant holds prepared.
	prepared map[string]int
	// refused are the violations the participants journaled (requests
	// that would have broken atomicity, refused).
	refused []string
	// lastDecision is the time of the latest commit or abort journaled.
	lastDecision time.Time
}

func newLedger(parts []*part) *ledger {
	l := &ledger{readers: map[string]*journal.Reader{}, txs: map[string]map[string]journal.State{}, prepared: map[string]int{}}
	for _, p := range parts {
		l.readers[p.name] = journal.NewReader(p.journal)
	}
	return l
}

// update reads what the journals gained since the last update.
func (l *ledger) update() error {
	for name, r := range l.readers {
		recs, err := r.Next()
		if err != nil {
			return fmt.Errorf("journal of %s: %w", name, err)
		}
		for _, rec := range recs {
			l.apply(name, rec)
		}
	}
	return nil
}

func (l *ledger) apply(part string, rec journal.Record) {
	m := l.txs[rec.TxID]
	if m == nil {
		m = map[string]journal.State{}
		l.txs[rec.TxID] = m
	}
	set := func(st journal.State) {
		if m[part] == journal.StatePrepared {
			l.prepared[part]--
		}
		if st == journal.StatePrepared {
			l.prepared[part]++
		}
		m[part] = st
	}
	switch rec.Op {
	case journal.OpStage:
		if m[part] == journal.StateNone {
			set(journal.StateActive)
		}
	case journal.OpPrepare:
		set(journal.StatePrepared)
	case journal.OpCommit, journal.OpAbort:
		if rec.Op == journal.OpCommit {
			set(journal.StateCommitted)
		} else {
			set(journal.StateAborted)
		}
		if rec.Time.After(l.lastDecision) {
			l.lastDecision = rec.Time
		}
	case journal.OpViolation:
		l.refused = append(l.refused, fmt.Sprintf("%s refused for %s: %s", part, rec.TxID, rec.Detail))
	}
}

// preparedAt returns how many transactions participant part holds
// prepared.
func (l *ledger) preparedAt(part string) int { return l.prepared[part] }

// preparedAll returns how many transactions are held prepared, summed over
// the participants.
func (l *ledger) preparedAll() int {
	n := 0
	for _, c := range l.prepared {
		n += c
	}
	return n
}

// report is the result of the checks.
type report struct {
	txs, committed, aborted, ambiguous, notCommitted, rejected int
	// violations break an invariant; unresolved are transactions still
	// prepared somewhere (progress).
	violations []string
	unresolved []string
	// leftActive counts transactions with unprepared work still held at a
	// participant (no participant-side deadline abort yet: not checked).
	leftActive int
}

// check compares what initiators were told with what the journals hold.
func check(recs []txRecord, l *ledger) report {
	var r report
	r.violations = append(r.violations, l.refused...)
	describe := func(m map[string]journal.State) string {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, " %s=%v", n, m[n])
		}
		return strings.TrimSpace(b.String())
	}
	ids := make([]string, 0, len(l.txs))
	for id := range l.txs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := l.txs[id]
		var committed, aborted, prepared, active bool
		for _, s := range m {
			switch s {
			case journal.StateCommitted:
				committed = true
			case journal.StateAborted:
				aborted = true
			case journal.StatePrepared:
				prepared = true
			case journal.StateActive:
				active = true
			}
		}
		switch {
		case committed && aborted:
			r.violations = append(r.violations, fmt.Sprintf("atomicity: %s committed and aborted: %s", id, describe(m)))
		case committed && active:
			r.violations = append(r.violations, fmt.Sprintf("unanimity: %s committed while a participant never voted: %s", id, describe(m)))
		}
		if prepared {
			r.unresolved = append(r.unresolved, fmt.Sprintf("%s still prepared: %s", id, describe(m)))
		}
		if active {
			r.leftActive++
		}
	}
	for _, rec := range recs {
		r.txs++
		m := l.txs[rec.id]
		switch rec.outcome {
		case outCommitted:
			r.committed++
			for _, p := range rec.staged {
				if m[p] != journal.StateCommitted {
					r.violations = append(r.violations, fmt.Sprintf("durability: %s reported COMMITTED but %s is %v: %s", rec.id, p, m[p], describe(m)))
				}
			}
		case outAborted, outNotCommitted, outRejected:
			switch rec.outcome {
			case outAborted:
				r.aborted++
			case outNotCommitted:
				r.notCommitted++
			default:
				r.rejected++
			}
			for p, s := range m {
				if s == journal.StateCommitted {
					r.violations = append(r.violations, fmt.Sprintf("atomicity: %s reported %v (%s) but committed at %s: %s", rec.id, rec.outcome, rec.err, p, describe(m)))
					break
				}
			}
		case outAmbiguous:
			r.ambiguous++
		}
	}
	return r
}
