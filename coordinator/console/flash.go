package console

import (
	"sync"
	"time"
)

// flashes hold what a failed action answered, for the page the browser is
// sent back to, under a random id that the redirect carries: a link made
// elsewhere cannot make the console say anything.
type flashes struct {
	mu sync.Mutex
	m  map[string]flash
}

type flash struct {
	text string
	exp  time.Time
}

const (
	flashLife = time.Minute
	maxFlash  = 1000
)

func newFlashes() *flashes { return &flashes{m: map[string]flash{}} }

// put keeps text for a minute and returns its id.
func (f *flashes) put(text string, now time.Time) string {
	id := randomToken()
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.m {
		if now.After(v.exp) {
			delete(f.m, k)
		}
	}
	if len(f.m) >= maxFlash {
		for k := range f.m { // any one: they all expire within a minute
			delete(f.m, k)
			break
		}
	}
	f.m[id] = flash{text: text, exp: now.Add(flashLife)}
	return id
}

// take returns the text of id once ("" for none).
func (f *flashes) take(id string, now time.Time) string {
	if id == "" {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[id]
	delete(f.m, id)
	if !ok || now.After(v.exp) {
		return ""
	}
	return v.text
}
