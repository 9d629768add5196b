package chaos

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkFailover measures failover as a client sees it: from SIGKILL of
// the leader to the first successful commit of a transaction begun after
// the kill (Begin, two Stage calls and Commit, all at the new leader: a
// conservative measure). Each iteration kills the leader of a 3-node
// cluster under load from 8 closed-loop workers, then restarts it and waits
// until it has caught up. Each kill's log line breaks the time down: when a
// node became the ready leader, and when the first committed transaction
// called Begin, got its answer and called Commit; a worker busy retrying
// the Commit of a transaction begun before the kill starts its next one
// only when that retry answers (the SDK's backoff). It reports the p50, p99 and max of that time, and of the
// time until a node reports itself the ready leader (the election and the
// new leader's barrier), as election_*. Run with -benchtime 20x: at 20
// kills, p99 is the slowest one.
func BenchmarkFailover(b *testing.B) {
	e := newEnv(b, envConfig{nodes: 3, participants: 2, nodeArgs: nodeFlags})
	ld := startLoad(e, loadConfig{workers: 8, txTimeout: 5 * time.Second})
	var failover, election []time.Duration
	for b.Loop() {
		lead, err := e.waitLeader(15*time.Second, 0)
		if err != nil {
			e.fail("%v", err)
		}
		// Steady state: the cluster commits.
		if _, err := ld.firstCommitAfter(time.Now(), 15*time.Second); err != nil {
			e.fail("before the kill: %v", err)
		}
		killed := time.Now()
		if err := e.nodes[lead].kill(); err != nil {
			e.fail("kill node%d: %v", lead, err)
		}
		if _, err := e.waitLeader(15*time.Second, lead); err != nil {
			e.fail("after killing node%d: %v", lead, err)
		}
		elected := time.Now()
		first, err := ld.firstCommitAfter(killed, 15*time.Second)
		if err != nil {
			e.fail("after killing node%d: %v", lead, err)
		}
		failover = append(failover, first.end.Sub(killed))
		election = append(election, elected.Sub(killed))
		since := func(t time.Time) time.Duration { return t.Sub(killed).Round(time.Millisecond) }
		b.Logf("kill of leader node%d: ready leader +%v; first commit +%v (its Begin called +%v, answered +%v, Commit called +%v)",
			lead, since(elected), since(first.end), since(first.begin), since(first.begun), since(first.called))
		if err := e.nodes[lead].start(); err != nil {
			e.fail("restart node%d: %v", lead, err)
		}
		if err := e.waitCaughtUp(lead, 15*time.Second); err != nil {
			e.fail("%v", err)
		}
	}
	b.StopTimer()
	_ = ld.halt(drainWait)
	if crashes := e.crashes.all(); len(crashes) > 0 {
		b.Errorf("unexpected exits:\n%s", joinLines(crashes))
	}
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(percentile(ds, 0.50)), name+"p50_ms")
		b.ReportMetric(ms(percentile(ds, 0.99)), name+"p99_ms")
		b.ReportMetric(ms(ds[len(ds)-1]), name+"max_ms")
	}
	report("", failover)
	report("election_", election)
	b.ReportMetric(0, "ns/op") // one op is a kill and a restart: not a useful figure
}

// percentile returns the nearest-rank q-quantile of sorted ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	i := int(float64(len(ds))*q+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
