package engine

import (
	"slices"
	"sync"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Timeline event kinds (TimelineEvent.kind).
const (
	eventBegin          = "begin"
	eventEnlist         = "enlist"
	eventPrepare        = "prepare"
	eventVote           = "vote"
	eventAbortRequested = "abort-requested"
	eventDecision       = "decision"
	eventAttempt        = "attempt"
	eventAck            = "ack"
	eventHeuristic      = "heuristic"
)

// Timeline bounds.
const (
	// attemptsKept is how many failed delivery attempts a timeline keeps
	// per participant: the latest ones (Transaction.failed_attempts counts
	// them all).
	attemptsKept = 16
	// finishedKept is how many timelines of finished transactions (done,
	// or decided without phase 2) stay viewable, the latest ones.
	finishedKept = 1024
)

// event is a TimelineEvent, compact: a stuck participant may hold many.
type event struct {
	atMs               int64
	kind, part, detail string
}

type txEvents struct {
	events   []event
	finished bool
}

// timeline records what the leader sees happen to each transaction, for
// operators (GetTransaction): begin, enlistments, votes, the decision,
// phase-2 attempts and acknowledgements. It is the leader's memory only,
// best effort and bounded: a transaction's timeline lives while it is
// active or its phase 2 runs, then among the finishedKept latest finished
// ones; a leadership change forgets every timeline.
type timeline struct {
	clock Clock

	mu       sync.Mutex
	txs      map[string]*txEvents
	finished []string // finished txids, oldest first
}

func newTimeline(clock Clock) *timeline {
	return &timeline{clock: clock, txs: map[string]*txEvents{}}
}

// add records an event of transaction id now. A failed attempt beyond
// attemptsKept for the participant replaces its oldest one.
func (l *timeline) add(id, kind, part, detail string) {
	ev := event{atMs: l.clock.Now().UnixMilli(), kind: kind, part: part, detail: detail}
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.txs[id]
	if !ok {
		t = &txEvents{}
		l.txs[id] = t
	}
	if kind == eventAttempt {
		first, n := -1, 0
		for i, e := range t.events {
			if e.kind == eventAttempt && e.part == part {
				if first < 0 {
					first = i
				}
				n++
			}
		}
		if n >= attemptsKept {
			t.events = slices.Delete(t.events, first, first+1)
		}
	}
	t.events = append(t.events, ev)
}

// finish marks id's timeline finished: it is kept among the latest
// finishedKept finished ones, then forgotten.
func (l *timeline) finish(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.txs[id]
	if !ok || t.finished {
		return
	}
	t.finished = true
	l.finished = append(l.finished, id)
	if len(l.finished) > finishedKept {
		old := l.finished[0]
		l.finished = l.finished[1:]
		if t, ok := l.txs[old]; ok && t.finished {
			delete(l.txs, old)
		}
	}
}

// reset forgets every timeline: leadership changed hands.
func (l *timeline) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.txs = map[string]*txEvents{}
	l.finished = nil
}

// annotate sets tx's timeline from what this node recorded.
func (l *timeline) annotate(tx *verdictv1.Transaction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.txs[tx.GetTxid()]
	if !ok {
		return
	}
	tx.Timeline = make([]*verdictv1.TimelineEvent, len(t.events))
	for i, e := range t.events {
		tx.Timeline[i] = &verdictv1.TimelineEvent{UnixMs: e.atMs, Kind: e.kind, Participant: e.part, Detail: e.detail}
	}
}

// decisionDetail describes a decision for the timeline.
func decisionDetail(o verdictv1.Outcome, reason string) string {
	word := OutcomeWord(o)
	if o == verdictv1.Outcome_OUTCOME_UNSPECIFIED {
		word = "outcome unknown"
	}
	if reason == "" {
		return word
	}
	return word + ": " + reason
}

// voteDetail describes a vote for the timeline.
func voteDetail(v vote) string {
	switch v.vote {
	case verdictv1.Vote_VOTE_YES:
		return "yes"
	case verdictv1.Vote_VOTE_READ_ONLY:
		return "read-only (leaves phase 2)"
	}
	return "no: " + v.reason
}

// phase2Verb names what phase 2 of outcome o sends.
func phase2Verb(o verdictv1.Outcome) string {
	if o == verdictv1.Outcome_OUTCOME_COMMITTED {
		return "commit"
	}
	return "abort"
}
