package participant

import (
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
)

const (
	// unknownLifetime is how long a transaction whose deadline is unknown
	// is remembered, from its creation (a txid carries its time).
	unknownLifetime = time.Hour
	// rememberSlack is how long a transaction is remembered past its
	// deadline, for clock skew between coordinator and participant.
	rememberSlack = time.Minute
	// maxRemember bounds how far in the future an entry may expire, so
	// that an id or deadline from a wrong clock cannot pin memory.
	maxRemember = 24 * time.Hour
	// pruneEvery is the minimum period between two sweeps of a txSet.
	pruneEvery = time.Second
)

// expiry returns until when a transaction with the given id and deadline
// (zero if unknown) is worth remembering, within [now+rememberSlack,
// now+maxRemember].
func expiry(id string, deadline, now time.Time) time.Time {
	exp := deadline.Add(rememberSlack)
	if deadline.IsZero() {
		created, err := txid.Time(id)
		if err != nil {
			created = now
		}
		exp = created.Add(unknownLifetime)
	}
	if lo := now.Add(rememberSlack); exp.Before(lo) {
		exp = lo
	}
	if hi := now.Add(maxRemember); exp.After(hi) {
		exp = hi
	}
	return exp
}

// txSet is a set of transaction ids, each remembered until its expiry. It
// is safe for concurrent use; expired entries are swept at most once per
// pruneEvery, so its size is bounded by the rate of additions times the
// lifetime of an entry.
type txSet struct {
	mu        sync.Mutex
	m         map[string]time.Time
	nextPrune time.Time
}

func newTxSet() *txSet { return &txSet{m: make(map[string]time.Time)} }

// add remembers id until exp (or longer, if it already was).
func (s *txSet) add(id string, exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[id]; !ok || old.Before(exp) {
		s.m[id] = exp
	}
	s.pruneLocked(now)
}

// get reports whether id is in the set and not expired, and its expiry.
func (s *txSet) get(id string, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[id]
	return exp, ok && now.Before(exp)
}

func (s *txSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func (s *txSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *txSet) pruneLocked(now time.Time) {
	if now.Before(s.nextPrune) {
		return
	}
	s.nextPrune = now.Add(pruneEvery)
	for id, exp := range s.m {
		if !now.Before(exp) {
			delete(s.m, id)
		}
	}
}
