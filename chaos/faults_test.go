package chaos

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// monkey injects faults into an env, one at a time, each undone before the
// next: a killed process is restarted, a cut link healed.
type monkey struct {
	t   testing.TB
	e   *env
	rng *rand.Rand

	leaderKills, partitions, partCrashes int
	// heldPrepared counts the transactions the crashed participants held
	// prepared when they died, as their journals tell (journals).
	heldPrepared int
	journals     *ledger
}

func (m *monkey) faults() int { return m.leaderKills + m.partitions + m.partCrashes }

// between returns a random duration in [lo, hi).
func (m *monkey) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(m.rng.Int64N(int64(hi-lo)))
}

// pause waits d: the pacing of fault injection.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}

// run injects faults until d has passed (the fault in progress is finished
// and undone first) and returns when the last one was undone.
func (m *monkey) run(d time.Duration) time.Time {
	end := time.Now().Add(d)
	// Leader kills come twice a round.
	kinds := []func(){m.killLeader, m.killLeader, m.isolateLeader, m.cutOneWay, m.crashParticipant}
	for i := 0; ; i++ {
		// Every kind in each round, in a random order.
		if i%len(kinds) == 0 {
			m.rng.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
		}
		kinds[i%len(kinds)]()
		if undone := time.Now(); !undone.Before(end) {
			return undone
		}
		pause(m.between(500*time.Millisecond, 1500*time.Millisecond))
	}
}

// leader waits (bounded) for the ready leader: with every process up and
// every link healed, a cluster that finds none has lost liveness.
func (m *monkey) leader() uint64 {
	m.t.Helper()
	id, err := m.e.waitLeader(15*time.Second, 0)
	if err != nil {
		m.e.fail("fault injection: %v", err)
	}
	return id
}

func (m *monkey) logf(format string, args ...any) {
	m.t.Logf("%s fault: %s", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// killLeader SIGKILLs the leader and restarts it from its data dir.
func (m *monkey) killLeader() {
	id := m.leader()
	node := m.e.nodes[id]
	if err := node.kill(); err != nil {
		m.e.fail("kill node%d: %v", id, err)
	}
	m.leaderKills++
	down := m.between(300*time.Millisecond, 1500*time.Millisecond)
	m.logf("SIGKILL leader node%d, restart in %v", id, down.Round(time.Millisecond))
	pause(down)
	if err := node.start(); err != nil {
		m.e.fail("restart node%d: %v", id, err)
	}
}

// cutMode picks how a link is cut.
func (m *monkey) cutMode() linkMode {
	if m.rng.IntN(2) == 0 {
		return linkRefuse
	}
	return linkDrop
}

// isolateLeader cuts every link to and from the leader, then heals them.
func (m *monkey) isolateLeader() {
	id := m.leader()
	mode := m.cutMode()
	for l, p := range m.e.proxies {
		if l.from == id || l.to == id {
			p.set(mode)
		}
	}
	m.partitions++
	hold := m.between(time.Second, 3*time.Second)
	m.logf("leader node%d isolated (%v) for %v", id, mode, hold.Round(time.Millisecond))
	pause(hold)
	m.e.heal()
}

// cutOneWay cuts one direction of a link between the leader and a
// follower, then heals it.
func (m *monkey) cutOneWay() {
	id := m.leader()
	var others []uint64
	for _, o := range m.e.ids {
		if o != id {
			others = append(others, o)
		}
	}
	f := others[m.rng.IntN(len(others))]
	l := link{id, f}
	if m.rng.IntN(2) == 0 {
		l = link{f, id}
	}
	mode := m.cutMode()
	m.e.proxies[l].set(mode)
	m.partitions++
	hold := m.between(time.Second, 3*time.Second)
	m.logf("link node%d->node%d cut (%v) for %v (leader node%d)", l.from, l.to, mode, hold.Round(time.Millisecond), id)
	pause(hold)
	m.e.heal()
}

// crashParticipant SIGKILLs a participant, as soon as its journal shows
// it holds a prepared transaction (or after a bounded wait), and restarts it
// from its journal.
func (m *monkey) crashParticipant() {
	p := m.e.parts[m.rng.IntN(len(m.e.parts))]
	if m.journals == nil {
		m.journals = newLedger(m.e.parts)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if err := m.journals.update(); err != nil {
			m.t.Fatal(err)
		}
		if m.journals.preparedAt(p.name) > 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := p.proc.kill(); err != nil {
		m.e.fail("kill %s: %v", p.name, err)
	}
	m.partCrashes++
	if err := m.journals.update(); err != nil { // the journal is still now
		m.t.Fatal(err)
	}
	held := m.journals.preparedAt(p.name)
	m.heldPrepared += held
	down := m.between(300*time.Millisecond, 1500*time.Millisecond)
	m.logf("SIGKILL participant %s holding %d prepared, restart in %v", p.name, held, down.Round(time.Millisecond))
	pause(down)
	if err := p.proc.start(); err != nil {
		m.e.fail("restart %s: %v", p.name, err)
	}
}
