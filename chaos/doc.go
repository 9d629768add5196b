// Package chaos is Verdict's multi-process fault suite. Its tests build
// cmd/verdict and the participant process in chaospart, start a 3-node
// coordinator cluster and three participants as separate processes on
// 127.0.0.1, run concurrent transactions against them, and meanwhile inject
// faults:
//
//   - SIGKILL of the Raft leader, restarted a moment later from its data dir;
//   - network partitions through a fault-injecting TCP proxy on every
//     directed peer link (each node's --peers names, for every other node,
//     the proxy of that link): the leader isolated, one direction of a link
//     cut (asymmetric), then healed; a cut link either refuses connections
//     or silently drops their bytes;
//   - SIGKILL of a participant, which usually holds prepared transactions,
//     restarted from its journal.
//
// Each participant journals every stage, prepare, commit and abort with an
// fsync before it answers (package journal). When the faults stop, the test
// stops starting transactions, waits (bounded) until nothing is prepared
// anywhere, and checks the invariants of DESIGN.md against the journals and
// what the initiators were told: no transaction committed at one participant
// and aborted at another; every transaction reported COMMITTED is committed
// at every participant that did work; nothing reported ABORTED, or never
// committed by its initiator, is committed anywhere; nothing stays prepared;
// no process exited unless the test killed it, and every node stops cleanly
// on SIGTERM. It prints one summary line (to the test log and stdout):
//
//	chaos: txs=... committed=... aborted=... faults=... violations=0 max_resolve_after_faults=...
//
// The default run injects faults for 35s (15s with -short). A long run:
//
//	VERDICT_CHAOS_DURATION=10m go test -run TestChaos -timeout 30m -v ./chaos
//
// BenchmarkFailover measures, on the same harness, the time from SIGKILL of
// the leader to the next successful commit of a transaction begun after the
// kill, and reports its p50, p99 and max:
//
//	go test ./chaos -run '^$' -bench Failover -benchtime 20x
package chaos
