package engine

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// fsm is the StateMachine over the transaction table ([table.Table]):
// it decodes each entry's batch and applies it under a lock that readers
// (Outcome, GetTransaction) share.
type fsm struct {
	log *slog.Logger

	mu    sync.RWMutex
	state *table.Table
	// hashes are the state's hashes at the latest checkpoints applied,
	// oldest first, and applied the last index applied (guarded by mu).
	hashes  []StateHash
	applied uint64 // the last index applied or restored from
	// cleared is the index at which each member's mark was last cleared
	// (since this process started: a check under way then is all it
	// guards against).
	cleared map[uint64]uint64
	// cur caches the last current hash; curMu lets one hash run at a time.
	curMu sync.Mutex
	cur   StateHash
	// skip, if set (TestingKnobs.SkipApply), drops the entries it names:
	// a replica whose apply went wrong, for the checks that must find it.
	skip func(index uint64, batch *logv1.LogBatch) bool
	// self is this node's id, and selfDiverged whether the table marks it
	// diverged: read on every leadership check, so kept apart from mu.
	self         uint64
	selfDiverged atomic.Bool
	// observer, once set, is told of every record applied, with its
	// result, after the entry's lock is released: the engine's side
	// channel for reacting to applied records (it holds no table state,
	// so the state machine stays deterministic). It must not block.
	observer atomic.Pointer[applyObserver]
}

// applyObserver is told of one applied record and its result.
type applyObserver func(rec *logv1.LogRecord, res table.Result)

// observe makes o the observer of the records applied from now on.
func (f *fsm) observe(o applyObserver) { f.observer.Store(&o) }

func newFSM(log *slog.Logger) *fsm { return &fsm{log: log, state: table.New()} }

// Apply implements StateMachine. A malformed entry is logged and
// skipped: the log must never crash a node.
func (f *fsm) Apply(index, term uint64, data []byte) any {
	var b logv1.LogBatch
	if err := proto.Unmarshal(data, &b); err != nil {
		f.log.Error("skipping malformed log entry", "index", index, "err", err)
		return nil
	}
	if f.skip != nil && f.skip(index, &b) {
		return nil
	}
	f.mu.Lock()
	f.applied = index
	results := f.state.ApplyEntry(term, &b)
	for _, rec := range b.GetRecords() {
		if d := rec.GetDivergence(); d != nil {
			f.selfDiverged.Store(f.state.IsDiverged(f.self))
			if d.GetCleared() {
				if f.cleared == nil {
					f.cleared = map[uint64]uint64{}
				}
				f.cleared[d.GetNode()] = index
			}
		}
	}
	for _, rec := range b.GetRecords() {
		if rec.GetCheckpoint() != nil {
			f.recordHashLocked(index)
			break
		}
	}
	f.mu.Unlock()
	if o := f.observer.Load(); o != nil {
		for i, rec := range b.GetRecords() {
			(*o)(rec, results[i])
		}
	}
	return results
}

// StateHash is the hash of the state right after the checkpoint at Index
// was applied (see table.Table.Hash).
type StateHash struct {
	Index  uint64
	SHA256 [32]byte
}

// keptHashes is how many checkpoints' hashes a node keeps.
const keptHashes = 16

// recordHashLocked records the state's hash at the checkpoint at index;
// the caller holds f.mu.
func (f *fsm) recordHashLocked(index uint64) {
	sum, err := f.state.Hash()
	if err != nil {
		f.log.Error("cannot hash the state at a checkpoint", "index", index, "err", err)
		return
	}
	f.hashes = append(f.hashes, StateHash{Index: index, SHA256: sum})
	if len(f.hashes) > keptHashes {
		f.hashes = slices.Clone(f.hashes[len(f.hashes)-keptHashes:])
	}
}

// isSelfDiverged reports whether this node is marked diverged.
func (f *fsm) isSelfDiverged() bool { return f.selfDiverged.Load() }

// diverged returns the members marked diverged.
func (f *fsm) diverged() map[uint64]uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Diverged()
}

// clearedAt is the index at which member node's mark was last cleared, 0
// if never since this process started.
func (f *fsm) clearedAt(node uint64) uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cleared[node]
}

// currentHash hashes the state now, at the last index applied: one
// caller at a time, and once per index (each hash holds up applying).
func (f *fsm) currentHash() (StateHash, error) {
	f.curMu.Lock()
	defer f.curMu.Unlock()
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cur.Index == f.applied && f.cur.SHA256 != ([32]byte{}) {
		return f.cur, nil
	}
	sum, err := f.state.Hash()
	if err != nil {
		return StateHash{}, err
	}
	f.cur = StateHash{Index: f.applied, SHA256: sum}
	return f.cur, nil
}

// stateHashes returns the hashes kept, oldest first.
func (f *fsm) stateHashes() []StateHash {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.hashes)
}

// Snapshot implements StateMachine.
func (f *fsm) Snapshot() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Snapshot()
}

// Restore implements StateMachine: the state becomes the snapshot's, at
// its index (unchanged if the snapshot is refused).
func (f *fsm) Restore(index uint64, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.state.Restore(data); err != nil {
		return err
	}
	f.applied, f.cur = index, StateHash{}
	f.selfDiverged.Store(f.state.IsDiverged(f.self))
	return nil
}

// CheckSnapshot implements StateMachine: it decodes data into a
// table of its own, which it then drops.
func (f *fsm) CheckSnapshot(data []byte) error { return table.New().Restore(data) }

func (f *fsm) get(txid string) (*verdictv1.Transaction, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Get(txid)
}

// recorded splits ids into those the table records and the others.
func (f *fsm) recorded(ids []string) (in, out []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, id := range ids {
		if f.state.Has(id) {
			in = append(in, id)
		} else {
			out = append(out, id)
		}
	}
	return in, out
}

// messages returns the staged messages of an undone COMMIT (shared with
// the table: read only).
func (f *fsm) messages(txid string) []*verdictv1.StagedMessage {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Messages(txid)
}

func (f *fsm) undone() []*verdictv1.Transaction {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Undone()
}

func (f *fsm) list(filter table.ListFilter, after string, limit int) ([]*verdictv1.Transaction, string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.ListMatching(filter, after, limit)
}

// logTime is [table.Table.LogTime].
func (f *fsm) logTime(retention time.Duration) int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.LogTime(retention)
}

func (f *fsm) expired(txid string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Expired(txid)
}

// size returns the number of transactions in the table and undoneCount those
// without DONE.
func (f *fsm) size() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Len()
}

func (f *fsm) undoneCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.UndoneCount()
}
