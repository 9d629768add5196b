package participant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// TxState is the state of a transaction in a MemResource.
type TxState int

// Transaction states of a MemResource.
const (
	TxNone      TxState = iota // unknown: nothing staged
	TxActive                   // work staged, not prepared
	TxPrepared                 // voted yes
	TxCommitted                // work applied
	TxAborted                  // work discarded; the txid is fenced
)

func (s TxState) String() string {
	switch s {
	case TxNone:
		return "none"
	case TxActive:
		return "active"
	case TxPrepared:
		return "prepared"
	case TxCommitted:
		return "committed"
	case TxAborted:
		return "aborted"
	}
	return fmt.Sprintf("TxState(%d)", int(s))
}

// EventKind is the kind of an Event in a MemResource's history.
type EventKind int

// Event kinds.
const (
	EventPrepare   EventKind = iota + 1 // a vote (Event.Vote)
	EventCommit                         // a transaction committed
	EventAbort                          // a transaction aborted
	EventViolation                      // an atomicity violation, refused (Event.Detail)
)

func (k EventKind) String() string {
	switch k {
	case EventPrepare:
		return "prepare"
	case EventCommit:
		return "commit"
	case EventAbort:
		return "abort"
	case EventViolation:
		return "violation"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is an entry of a MemResource's history.
type Event struct {
	Kind   EventKind
	TxID   string
	Vote   Vote   // for EventPrepare
	Detail string // for EventViolation, and for an EventAbort caused by a no vote
}

// ErrViolation is returned by MemResource.Commit or Abort asked to reverse
// a decision: commit an aborted or never-prepared transaction, or abort a
// committed one. The request is recorded as an EventViolation and refused.
var ErrViolation = errors.New("verdict: atomicity violation")

// ErrFenced is returned by MemResource.Stage for a transaction that is
// already prepared, committed or aborted.
var ErrFenced = errors.New("verdict: transaction no longer accepts work")

type memTx struct {
	state  TxState
	writes [][2]string // key, value; applied in order
}

// MemResource is an in-memory Resource and Recoverer for tests and
// benchmarks: a key-value map whose writes are staged under a transaction
// and applied when it commits. It records a history of every state change
// and refuses, as violations, the requests that would break atomicity. It
// is safe for concurrent use. It remembers every transaction it saw.
type MemResource struct {
	mu          sync.Mutex
	data        map[string]string
	txs         map[string]*memTx
	vote        func(ctx context.Context, txid string) (Vote, error)
	history     []Event
	keepHistory bool
	violations  []Event
	counts      [TxAborted + 1]int
}

var (
	_ Resource  = (*MemResource)(nil)
	_ Recoverer = (*MemResource)(nil)
)

// NewMemResource returns an empty MemResource that votes yes for every
// transaction with staged work.
func NewMemResource() *MemResource {
	return &MemResource{data: make(map[string]string), txs: make(map[string]*memTx), keepHistory: true}
}

// KeepHistory turns the recording of History on (the default) or off, for
// long benchmarks. Violations are always recorded.
func (m *MemResource) KeepHistory(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keepHistory = on
}

// SetVote sets a hook that decides the vote of each transaction with staged
// work (VoteYes when nil). It runs without the MemResource's lock, with the
// context of Prepare: a hook that blocks until ctx is done simulates a
// participant that does not answer. An error counts as VoteNo.
func (m *MemResource) SetVote(fn func(ctx context.Context, txid string) (Vote, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vote = fn
}

// Stage records a write of value to key under txid, applied if txid
// commits. It returns ErrFenced once txid is prepared or decided.
func (m *MemResource) Stage(txid, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := m.txs[txid]
	if tx == nil {
		tx = &memTx{state: TxActive}
		m.txs[txid] = tx
		m.counts[TxActive]++
	}
	if tx.state != TxActive {
		return fmt.Errorf("%w: %s is %v", ErrFenced, txid, tx.state)
	}
	tx.writes = append(tx.writes, [2]string{key, value})
	return nil
}

// Prepare votes: VoteReadOnly with nothing staged, VoteYes again for a
// prepared or committed transaction, VoteNo for an aborted one, and the
// vote hook's answer for staged work. A no vote aborts the transaction at
// once.
func (m *MemResource) Prepare(ctx context.Context, txid string) (Vote, error) {
	m.mu.Lock()
	tx := m.txs[txid]
	if tx == nil {
		m.mu.Unlock()
		return VoteReadOnly, nil
	}
	switch tx.state {
	case TxPrepared, TxCommitted:
		m.mu.Unlock()
		return VoteYes, nil
	case TxAborted:
		m.mu.Unlock()
		return VoteNo, fmt.Errorf("verdict: transaction %s aborted", txid)
	}
	hook := m.vote
	m.mu.Unlock()

	vote, err := VoteYes, error(nil)
	if hook != nil {
		vote, err = hook(ctx, txid)
	}
	if err == nil && vote != VoteYes && vote != VoteReadOnly {
		err = fmt.Errorf("verdict: voted %v", vote)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if tx.state != TxActive { // aborted while voting
		return VoteNo, fmt.Errorf("verdict: transaction %s %v while preparing", txid, tx.state)
	}
	if err != nil {
		m.record(Event{Kind: EventPrepare, TxID: txid, Vote: VoteNo})
		m.set(tx, TxAborted)
		m.record(Event{Kind: EventAbort, TxID: txid, Detail: "voted no: " + err.Error()})
		return VoteNo, err
	}
	m.record(Event{Kind: EventPrepare, TxID: txid, Vote: vote})
	if vote == VoteReadOnly {
		m.set(tx, TxNone)
		delete(m.txs, txid)
		return VoteReadOnly, nil
	}
	m.set(tx, TxPrepared)
	return VoteYes, nil
}

// Commit applies the writes of a prepared transaction. It succeeds again
// for a committed one and does nothing for an unknown one. Committing an
// aborted or unprepared transaction is a violation: recorded, refused.
func (m *MemResource) Commit(ctx context.Context, txid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := m.txs[txid]
	if tx == nil {
		return nil
	}
	switch tx.state {
	case TxCommitted:
		return nil
	case TxPrepared:
		for _, w := range tx.writes {
			m.data[w[0]] = w[1]
		}
		tx.writes = nil
		m.set(tx, TxCommitted)
		m.record(Event{Kind: EventCommit, TxID: txid})
		return nil
	}
	return m.violation(txid, fmt.Sprintf("commit of a %v transaction", tx.state))
}

// Abort discards the writes of a transaction and fences it; an unknown
// transaction is fenced too. Aborting a committed transaction is a
// violation: recorded, refused.
func (m *MemResource) Abort(ctx context.Context, txid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := m.txs[txid]
	if tx == nil {
		tx = &memTx{state: TxNone}
		m.txs[txid] = tx
	}
	switch tx.state {
	case TxAborted:
		return nil
	case TxCommitted:
		return m.violation(txid, "abort of a committed transaction")
	}
	tx.writes = nil
	m.set(tx, TxAborted)
	m.record(Event{Kind: EventAbort, TxID: txid})
	return nil
}

// Prepared lists the prepared transactions, sorted.
func (m *MemResource) Prepared(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, tx := range m.txs {
		if tx.state == TxPrepared {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Get returns the committed value of key.
func (m *MemResource) Get(key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return v, ok
}

// State returns the state of txid.
func (m *MemResource) State(txid string) TxState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tx := m.txs[txid]; tx != nil {
		return tx.state
	}
	return TxNone
}

// Counts returns how many transactions are prepared now, and how many
// committed and aborted.
func (m *MemResource) Counts() (prepared, committed, aborted int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[TxPrepared], m.counts[TxCommitted], m.counts[TxAborted]
}

// History returns every state change in order: votes, commits, aborts and
// violations (empty while KeepHistory is off). Repeated, idempotent
// requests that change nothing are not recorded.
func (m *MemResource) History() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.history)
}

// Violations returns the violations recorded, in order. An empty result
// means atomicity held at this resource.
func (m *MemResource) Violations() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.violations)
}

// set moves tx to state s, keeping the counts of transactions per state
// (TxNone is not counted).
func (m *MemResource) set(tx *memTx, s TxState) {
	if tx.state != TxNone {
		m.counts[tx.state]--
	}
	if s != TxNone {
		m.counts[s]++
	}
	tx.state = s
}

func (m *MemResource) record(e Event) {
	if m.keepHistory {
		m.history = append(m.history, e)
	}
}

func (m *MemResource) violation(txid, detail string) error {
	e := Event{Kind: EventViolation, TxID: txid, Detail: detail}
	m.violations = append(m.violations, e)
	m.record(e)
	return fmt.Errorf("%w: %s: %s", ErrViolation, txid, detail)
}
