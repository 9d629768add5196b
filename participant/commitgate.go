package participant

import "sync"

// commitGate serialises, per transaction, the Commit handler with the
// recovery loop's question to the coordinator. Recovery asks as the holder
// of prepared work, for which a leader that does not know the transaction
// presumes it aborted; that claim must stay true from the question to the
// abort it leads to. A leader that committed the transaction in one phase
// and lost office before recording it leaves nothing the next leader
// finds, so:
//   - a Commit that succeeded after recovery began listing the prepared
//     transactions makes recovery leave the transaction: it is committed;
//   - a Commit in progress makes recovery leave it to the next pass;
//   - while recovery asks and applies the answer, the transaction is
//     held: a Commit is refused (the leader that sent it then logs a
//     COMMIT record, or cannot and reports the outcome ambiguous).
//
// A Commit also reads the fence (aborted here) under the gate's lock, and
// recovery fences before it releases a transaction it aborts, so a Commit
// admitted after the release sees the fence.
type commitGate struct {
	fenced func(id string) bool

	mu      sync.Mutex
	running map[string]int             // Commits in progress, by txid
	held    map[string]bool            // txids recovery is resolving
	passes  map[*recoveryPass]struct{} // recovery passes in progress
}

// recoveryPass is what one recovery pass learns of the Commits that
// succeeded since it began listing the prepared transactions.
type recoveryPass struct {
	listed    map[string]bool // nil while listing: every Commit counts
	committed map[string]bool // committed since the pass began, among listed
}

func newCommitGate(fenced func(id string) bool) *commitGate {
	return &commitGate{
		fenced:  fenced,
		running: make(map[string]int),
		held:    make(map[string]bool),
		passes:  make(map[*recoveryPass]struct{}),
	}
}

// refusedResolving is the reason begin gives for a transaction recovery
// is resolving (with refusedAborted, of txtable.go, for one aborted here).
const refusedResolving = "being resolved by the recovery loop"

// begin admits a Commit of id, or returns why it is refused: aborted here,
// or held by recovery. An admitted Commit must end.
func (g *commitGate) begin(id string) (refused string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.fenced(id):
		return refusedAborted
	case g.held[id]:
		return refusedResolving
	}
	g.running[id]++
	return ""
}

// end ends a Commit admitted by begin; ok if it committed.
func (g *commitGate) end(id string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[id]--; g.running[id] <= 0 {
		delete(g.running, id)
	}
	if ok {
		g.committedLocked(id)
	}
}

func (g *commitGate) committedLocked(id string) {
	for p := range g.passes {
		if p.listed == nil || p.listed[id] {
			p.committed[id] = true
		}
	}
}

// beginPass starts a recovery pass; call it before listing, and endPass
// when the pass is over.
func (g *commitGate) beginPass() *recoveryPass {
	p := &recoveryPass{committed: make(map[string]bool)}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.passes[p] = struct{}{}
	return p
}

// listed records what p listed: from now on only their Commits count.
func (g *commitGate) listed(p *recoveryPass, ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p.listed = make(map[string]bool, len(ids))
	for _, id := range ids {
		p.listed[id] = true
	}
	for id := range p.committed {
		if !p.listed[id] {
			delete(p.committed, id)
		}
	}
}

func (g *commitGate) endPass(p *recoveryPass) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.passes, p)
}

// hold holds id for pass p, which is to ask its outcome, or returns why
// not: committed since p began listing, a Commit in progress, or held by
// another pass. A held transaction refuses Commits until release.
func (g *commitGate) hold(p *recoveryPass, id string) (busy string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case p.committed[id]:
		return "committed since it was listed"
	case g.running[id] > 0:
		return "a Commit is in progress"
	case g.held[id]:
		return "another recovery pass is resolving it"
	}
	g.held[id] = true
	return ""
}

// release ends the hold of id; committed if recovery committed it.
func (g *commitGate) release(id string, committed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.held, id)
	if committed {
		g.committedLocked(id)
	}
}
