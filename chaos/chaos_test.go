package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// Durations of the chaos run.
const (
	defaultChaos = 35 * time.Second
	shortChaos   = 15 * time.Second
	// drainWait bounds the wait for in-flight transactions after the
	// faults stop: their timeout plus the SDK's commit grace and more.
	drainWait = 30 * time.Second
	// resolveWait bounds the wait for nothing to be prepared anywhere.
	resolveWait = 60 * time.Second
)

// chaosDuration is how long faults are injected: VERDICT_CHAOS_DURATION if
// set, else a short run.
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("VERDICT_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("VERDICT_CHAOS_DURATION=%q: want a positive duration such as 10m", s)
		}
		return d
	}
	if testing.Short() {
		return shortChaos
	}
	return defaultChaos
}

// nodeFlags are the coordinator flags of the chaos cluster: phase 2 retried
// at least every second, so that outcomes land soon after the faults stop.
var nodeFlags = []string{
	"--max-retry-backoff", "1s",
	"--stuck-after", "10s",
	"--retention", "30m",
	"--default-timeout", "5s",
	"--log-level", "info",
}

func TestChaos(t *testing.T) {
	d := chaosDuration(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos: faults for %v, seed %d", d, seed)
	e := newEnv(t, envConfig{nodes: 3, participants: 3, nodeArgs: nodeFlags})
	ld := startLoad(e, loadConfig{workers: 8, txTimeout: 5 * time.Second})
	m := &monkey{t: t, e: e, rng: rand.New(rand.NewPCG(seed, 0))}
	faultsEnd := m.run(d)
	e.heal() // every fault undoes itself; this is belt and braces
	drainErr := ld.halt(drainWait)
	led := newLedger(e.parts)
	var resolveErr error
	deadline := time.Now().Add(resolveWait)
	for {
		if err := led.update(); err != nil {
			t.Fatal(err)
		}
		if led.preparedAll() == 0 {
			break
		}
		if time.Now().After(deadline) {
			resolveErr = fmt.Errorf("transactions still prepared %v after the faults stopped", resolveWait)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	recs := ld.records()
	rep := check(recs, led)

	var maxResolve time.Duration
	last := led.lastDecision
	for _, r := range recs {
		if r.end.After(last) {
			last = r.end
		}
	}
	if last.After(faultsEnd) {
		maxResolve = last.Sub(faultsEnd)
	}
	var down []string
	for _, id := range e.ids {
		if !e.nodes[id].running() {
			down = append(down, e.nodes[id].name)
		}
	}
	for _, p := range e.parts {
		if !p.proc.running() {
			down = append(down, p.name)
		}
	}
	stopErrs := e.stopAll()
	crashes := e.crashes.all()
	violations := len(rep.violations) + len(rep.unresolved) + len(crashes)

	summary := fmt.Sprintf("chaos: txs=%d committed=%d aborted=%d ambiguous=%d not_committed=%d rejected=%d begin_errors=%d "+
		"faults=%d (leader_kills=%d partitions=%d participant_crashes=%d held_prepared=%d) "+
		"violations=%d (invariants=%d still_prepared=%d crashes=%d) left_active=%d max_resolve_after_faults=%v",
		rep.txs, rep.committed, rep.aborted, rep.ambiguous, rep.notCommitted, rep.rejected, ld.beginErrs.Load(),
		m.faults(), m.leaderKills, m.partitions, m.partCrashes, m.heldPrepared,
		violations, len(rep.violations), len(rep.unresolved), len(crashes), rep.leftActive, maxResolve.Round(time.Millisecond))
	t.Log(summary)
	fmt.Println(summary)

	var problems []string
	add := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		const show = 20
		more := ""
		if len(list) > show {
			more = fmt.Sprintf("\n  ... and %d more", len(list)-show)
			list = list[:show]
		}
		problems = append(problems, fmt.Sprintf("%s:\n  %s%s", what, strings.Join(list, "\n  "), more))
	}
	add("invariant violations", rep.violations)
	add("still prepared", rep.unresolved)
	add("unexpected exits", crashes)
	add("not running at the end", down)
	add("unclean shutdown", stopErrs)
	for _, err := range []error{drainErr, resolveErr} {
		if err != nil {
			add("progress", []string{err.Error()})
		}
	}
	if rep.committed == 0 {
		add("progress", []string{"no transaction committed"})
	}
	if len(problems) > 0 {
		t.Errorf("%s\n%s", strings.Join(problems, "\n"), e.logTails(40))
	}
}
