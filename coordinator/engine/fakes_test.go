package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The fakes the scripted engine tests (script_test.go) run the engine
// over: a log that applies each proposal at once, participants that answer
// as the script says, and a publisher that records events. Each records
// what it is asked, for the script to print.

// fakeLog is a replicated log of one node that commits every proposal at
// once: Propose applies the entry to the engine's state machine on the
// caller's goroutine, one at a time (as the Raft apply loop), without
// holding the lock that LeaderTerm takes (the engine asks it while it
// applies). Entries are kept, so that a new leader can replay them.
type fakeLog struct {
	applyMu sync.Mutex // one apply at a time
	mu      sync.Mutex
	sm      StateMachine
	term    uint64
	leading bool
	entries [][]byte
	// unread counts the entries the script has not printed yet.
	unread int
}

func (l *fakeLog) Propose(ctx context.Context, data []byte) (any, error) {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	if !l.leading {
		l.mu.Unlock()
		return nil, fmt.Errorf("fake log: %w", ErrNotLeader)
	}
	l.entries = append(l.entries, slices.Clone(data))
	index, term, sm := uint64(len(l.entries)), l.term, l.sm
	l.mu.Unlock()
	return sm.Apply(index, term, data), nil
}

func (l *fakeLog) ReadIndex(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading {
		return fmt.Errorf("fake log: %w", ErrNotLeader)
	}
	return nil
}

func (l *fakeLog) LeaderTerm() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.leading
}

// attach makes sm the state machine of a new leader in the next term,
// after replaying every entry into it.
func (l *fakeLog) attach(sm StateMachine) uint64 {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.entries {
		sm.Apply(uint64(i+1), l.term, e)
	}
	l.sm, l.term, l.leading = sm, l.term+1, true
	return l.term
}

// newRecords returns the records appended since the last call, one line
// each, with txids named by names.
func (l *fakeLog) newRecords(names func(string) string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries[l.unread:] {
		var b logv1.LogBatch
		if err := proto.Unmarshal(e, &b); err != nil {
			out = append(out, "malformed entry: "+err.Error())
			continue
		}
		for _, r := range b.GetRecords() {
			out = append(out, recordLine(r, names))
		}
	}
	l.unread = len(l.entries)
	return out
}

// logged reports whether a record whose line starts with prefix is in the
// log.
func (l *fakeLog) logged(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		var b logv1.LogBatch
		if proto.Unmarshal(e, &b) != nil {
			continue
		}
		for _, r := range b.GetRecords() {
			if strings.HasPrefix(recordLine(r, func(id string) string { return id }), prefix) {
				return true
			}
		}
	}
	return false
}

func recordLine(r *logv1.LogRecord, names func(string) string) string {
	switch k := r.GetKind().(type) {
	case *logv1.LogRecord_Decision:
		d := k.Decision
		word := "ABORT"
		if d.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
			word = "COMMIT"
		}
		line := word + " " + names(d.GetTxid()) + " [" + partNames(d.GetParticipants()) + "]"
		if d.GetReason() != "" {
			line += " " + d.GetReason()
		}
		return line
	case *logv1.LogRecord_Done:
		var ids []string
		for _, id := range k.Done.GetTxids() {
			ids = append(ids, names(id))
		}
		for _, op := range k.Done.GetOnePhase() {
			ids = append(ids, names(op.GetTxid())+"(one-phase at "+op.GetParticipant().GetName()+")")
		}
		sort.Strings(ids)
		return "DONE " + strings.Join(ids, " ")
	case *logv1.LogRecord_Prune:
		return "PRUNE"
	case *logv1.LogRecord_Heuristic:
		h := k.Heuristic
		return "HEURISTIC " + names(h.GetTxid()) + " " + h.GetParticipant() + " by " + h.GetOperator() + ": " + h.GetReason()
	}
	return fmt.Sprintf("record %T", r.GetKind())
}

func partNames(parts []*verdictv1.ParticipantRef) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.GetName()
	}
	return strings.Join(names, " ")
}

// fakeParticipants are participants reached by address; the address of
// participant "a" is "a:1". Each votes as the script set (YES by
// default; a vote of VOTE_UNSPECIFIED is a failed Prepare) and
// acknowledges decisions unless the script made it fail.
type fakeParticipants struct {
	mu      sync.Mutex
	votes   map[string]verdictv1.Vote // by participant name
	failing map[string]bool
	calls   map[string][]string // by participant name, in order, until printed
	history map[string][]string // every call, by participant name
	// maxAddresses bounds Admit; 0: unbounded.
	maxAddresses int
	admitted     map[string]bool
}

func newFakeParticipants() *fakeParticipants {
	return &fakeParticipants{votes: map[string]verdictv1.Vote{}, failing: map[string]bool{}, calls: map[string][]string{}, history: map[string][]string{}, admitted: map[string]bool{}}
}

func nameOf(addr string) string { n, _, _ := strings.Cut(addr, ":"); return n }

// errParticipantDown is what a failing participant answers.
var errParticipantDown = errors.New("participant down")

func (f *fakeParticipants) Prepare(ctx context.Context, addr, txid string) (*verdictv1.PrepareVote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := nameOf(addr)
	f.record(name, "prepare "+txid)
	v, ok := f.votes[name]
	switch {
	case !ok:
		v = verdictv1.Vote_VOTE_YES
	case v == verdictv1.Vote_VOTE_UNSPECIFIED:
		return nil, errParticipantDown
	}
	return &verdictv1.PrepareVote{Vote: v, Reason: "scripted"}, nil
}

func (f *fakeParticipants) Decide(ctx context.Context, addr string, o verdictv1.Outcome, txids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := nameOf(addr)
	verb := "commit"
	if o != verdictv1.Outcome_OUTCOME_COMMITTED {
		verb = "abort"
	}
	line := verb + " " + strings.Join(txids, " ")
	if f.failing[name] {
		line += " (failed)"
	}
	f.record(name, line)
	if f.failing[name] {
		return errParticipantDown
	}
	return nil
}

// record notes a call to participant name; f.mu is held.
func (f *fakeParticipants) record(name, line string) {
	f.calls[name] = append(f.calls[name], line)
	f.history[name] = append(f.history[name], line)
}

func (f *fakeParticipants) Admit(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxAddresses > 0 && !f.admitted[addr] && len(f.admitted) >= f.maxAddresses {
		return false
	}
	f.admitted[addr] = true
	return true
}

func (f *fakeParticipants) ReleaseIdle(held map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr := range f.admitted {
		if !held[addr] {
			delete(f.admitted, addr)
		}
	}
}

// count is the number of calls to participant name whose line starts with
// prefix, printed or not.
func (f *fakeParticipants) count(name, prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.history[name] {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// fakePublisher records the lifecycle events; it publishes no message
// (a transaction with messages is outside these scripts).
type fakePublisher struct {
	mu     sync.Mutex
	events []Event
}

func (p *fakePublisher) Publish(ctx context.Context, txs []Staged) []error {
	errs := make([]error, len(txs))
	for i := range errs {
		errs[i] = errors.New("fake publisher: no messages")
	}
	return errs
}

func (p *fakePublisher) Emit(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
}

// fakeObserver counts what the engine reports.
type fakeObserver struct {
	mu      sync.Mutex
	commits map[CommitPath]int
	aborts  map[AbortCause]int
	retries int
}

func newFakeObserver() *fakeObserver {
	return &fakeObserver{commits: map[CommitPath]int{}, aborts: map[AbortCause]int{}}
}

func (o *fakeObserver) Committed(p CommitPath, _ time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commits[p]++
}

func (o *fakeObserver) Aborted(c AbortCause) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.aborts[c]++
}

func (o *fakeObserver) Retried() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries++
}
