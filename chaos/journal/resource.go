package journal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/participant"
)

// State is a transaction's state at a Resource.
type State int

// States, in the order a transaction moves through them.
const (
	StateNone      State = iota // never staged here
	StateActive                 // work staged, not voted
	StatePrepared               // voted yes
	StateCommitted              // applied
	StateAborted                // discarded and fenced
)

func (s State) String() string {
	return [...]string{"none", "active", "prepared", "committed", "aborted"}[s]
}

// ErrFenced is returned by Stage for a transaction that no longer accepts
// work (prepared, committed or aborted here).
var ErrFenced = errors.New("journal: transaction no longer accepts work")

// ErrViolation is returned by Commit or Abort asked to reverse a decision
// (commit an aborted or unprepared transaction, abort a committed one); the
// request is journaled as OpViolation and refused.
var ErrViolation = errors.New("journal: atomicity violation")

// Resource is a participant.Resource and participant.Recoverer whose every
// state change is journaled and fsynced before it is acknowledged. Work
// staged but not prepared when the process died is aborted on replay (it
// lived in memory only), so a later Prepare for it votes no.
type Resource struct {
	w   *Writer
	now func() time.Time

	mu  sync.Mutex
	txs map[string]State
}

var (
	_ participant.Resource  = (*Resource)(nil)
	_ participant.Recoverer = (*Resource)(nil)
)

// Open opens the journal at path and replays it.
func Open(path string) (*Resource, error) {
	w, recs, err := OpenWriter(path)
	if err != nil {
		return nil, err
	}
	r := &Resource{w: w, now: time.Now, txs: make(map[string]State)}
	for _, rec := range recs {
		switch rec.Op {
		case OpStage:
			if r.txs[rec.TxID] == StateNone {
				r.txs[rec.TxID] = StateActive
			}
		case OpPrepare:
			r.txs[rec.TxID] = StatePrepared
		case OpCommit:
			r.txs[rec.TxID] = StateCommitted
		case OpAbort:
			r.txs[rec.TxID] = StateAborted
		}
	}
	var lost []string
	for id, st := range r.txs {
		if st == StateActive {
			lost = append(lost, id)
		}
	}
	slices.Sort(lost)
	for _, id := range lost {
		if err := r.w.Append(Record{Time: r.now(), Op: OpAbort, TxID: id, Detail: "unprepared work lost in a restart"}); err != nil {
			w.Close()
			return nil, err
		}
		r.txs[id] = StateAborted
	}
	return r, nil
}

// Close closes the journal.
func (r *Resource) Close() error { return r.w.Close() }

// change journals rec and moves txid to st, under r.mu; the caller syncs
// the returned sequence number after unlocking.
func (r *Resource) change(op Op, txid string, st State, detail string) (uint64, error) {
	seq, err := r.w.write(Record{Time: r.now(), Op: op, TxID: txid, Detail: detail})
	if err != nil {
		return 0, err
	}
	if st != StateNone {
		r.txs[txid] = st
	}
	return seq, nil
}

// finish makes what the caller saw durable before it answers: either its
// own record (seq) or, when it wrote none, everything written before.
func (r *Resource) finish(seq uint64, err error) error {
	if err != nil {
		return err
	}
	if seq == 0 {
		seq = r.w.mark()
	}
	return r.w.Sync(seq)
}

// Stage records work under txid. It fails with ErrFenced once txid is
// prepared or decided here.
func (r *Resource) Stage(txid string) error {
	r.mu.Lock()
	var seq uint64
	var err error
	switch st := r.txs[txid]; st {
	case StateNone:
		seq, err = r.change(OpStage, txid, StateActive, "")
	case StateActive:
	default:
		err = fmt.Errorf("%w: %s is %v", ErrFenced, txid, st)
	}
	r.mu.Unlock()
	return r.finish(seq, err)
}

// Prepare votes: read-only with nothing staged, yes for staged, prepared or
// committed work, no for an aborted transaction.
func (r *Resource) Prepare(ctx context.Context, txid string) (participant.Vote, error) {
	r.mu.Lock()
	var seq uint64
	var err error
	vote := participant.VoteYes
	switch st := r.txs[txid]; st {
	case StateNone:
		vote = participant.VoteReadOnly
	case StateActive:
		seq, err = r.change(OpPrepare, txid, StatePrepared, "")
	case StateAborted:
		vote, err = participant.VoteNo, fmt.Errorf("journal: transaction %s aborted", txid)
	}
	r.mu.Unlock()
	if err := r.finish(seq, err); err != nil {
		return participant.VoteNo, err
	}
	return vote, nil
}

// Commit applies a prepared transaction; again for a committed one it
// succeeds. Anything else is a violation, journaled and refused.
func (r *Resource) Commit(ctx context.Context, txid string) error {
	r.mu.Lock()
	var seq uint64
	var err error
	switch st := r.txs[txid]; st {
	case StatePrepared:
		seq, err = r.change(OpCommit, txid, StateCommitted, "")
	case StateCommitted:
	default:
		detail := fmt.Sprintf("commit of a %v transaction", st)
		seq, err = r.change(OpViolation, txid, StateNone, detail)
		if err == nil {
			err = fmt.Errorf("%w: %s: %s", ErrViolation, txid, detail)
		}
	}
	r.mu.Unlock()
	if serr := r.finish(seq, nil); serr != nil {
		return serr
	}
	return err
}

// Abort discards txid's work and fences it, known or not. Aborting a
// committed transaction is a violation, journaled and refused.
func (r *Resource) Abort(ctx context.Context, txid string) error {
	r.mu.Lock()
	var seq uint64
	var err error
	switch st := r.txs[txid]; st {
	case StateAborted:
	case StateCommitted:
		seq, err = r.change(OpViolation, txid, StateNone, "abort of a committed transaction")
		if err == nil {
			err = fmt.Errorf("%w: %s: abort of a committed transaction", ErrViolation, txid)
		}
	default:
		seq, err = r.change(OpAbort, txid, StateAborted, "")
	}
	r.mu.Unlock()
	if serr := r.finish(seq, nil); serr != nil {
		return serr
	}
	return err
}

// Prepared lists the transactions prepared here, sorted.
func (r *Resource) Prepared(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, st := range r.txs {
		if st == StatePrepared {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
