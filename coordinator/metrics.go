package coordinator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/txlog"
)

// metrics are a node's Prometheus collectors, in a registry of its own (no
// global state: a process may run several nodes). The engine counts its
// work through them; the node's Raft state and tables are read at scrape
// time. It is the node's txlog.Observer and the engine's Observer.
type metrics struct {
	reg           *prometheus.Registry
	commits       *prometheus.CounterVec
	aborts        *prometheus.CounterVec
	commitLatency prometheus.Histogram
	retries       prometheus.Counter
	fsync         prometheus.Histogram
	snapshotBytes prometheus.Histogram
	mismatches    prometheus.Counter
}

var (
	_ txlog.Observer  = (*metrics)(nil)
	_ engine.Observer = (*metrics)(nil)
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_commits_total",
			Help: "Transactions committed by this node as leader, by path: logged (COMMIT record), one_phase, read_only.",
		}, []string{"path"}),
		aborts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_aborts_total",
			Help: "Transactions aborted by this node as leader, by reason: vote_no, prepare_error, deadline, initiator, unknown_tx, leadership_lost, refused, unconfirmed.",
		}, []string{"reason"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "verdict_commit_latency_seconds",
			Help:    "Time from the start of a Commit call to its commit decision being durable (applied from the log, or acknowledged by a one-phase participant).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5ms to 4s
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "verdict_phase2_retries_total",
			Help: "Phase-2 deliveries (of one decision to one participant) that failed and will be retried.",
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "verdict_wal_fsync_duration_seconds",
			Help:    "Duration of the WAL's fdatasync, one per Raft Ready with entries or hard state to persist.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 15), // 50µs to 0.8s
		}),
		snapshotBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "verdict_snapshot_size_bytes",
			Help:    "Size of the Raft snapshots this node wrote (its own, or received from the leader).",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 12), // 1 KiB to 4 GiB
		}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "verdict_state_mismatches_total",
			Help: "Members found, by this node's state checks as the leader, to hold another state than the others at a checkpoint.",
		}),
	}
	// Every label value exists from the start, so that rates and alerts see
	// zeros instead of missing series.
	for _, p := range []string{string(engine.CommitLogged), string(engine.CommitOnePhase), string(engine.CommitReadOnly)} {
		m.commits.WithLabelValues(p)
	}
	for _, c := range engine.AbortCauses {
		m.aborts.WithLabelValues(string(c))
	}
	m.reg.MustRegister(m.commits, m.aborts, m.commitLatency, m.retries, m.fsync, m.snapshotBytes, m.mismatches,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch registers the collectors read at scrape time: the node's Raft
// state and counters, the engine's tables and the node's readiness.
func (m *metrics) watch(node *txlog.Node, c *engine.Engine, parts *participantPool, link *natsLink, ready func() bool) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		gauge("verdict_in_doubt_transactions", "Decided transactions whose phase 2 is not done (COMMIT or ABORT without DONE in the log).",
			func() float64 { return float64(c.UndoneCount()) }),
		gauge("verdict_stuck_transactions", "Transactions whose phase 2 has kept failing for the stuck threshold (known on the leader; 0 elsewhere).",
			func() float64 { return float64(c.StuckCount()) }),
		gauge("verdict_participant_addresses", "Participant addresses the node holds a connection and prepare batcher for (released once idle; see --max-participant-addresses).",
			func() float64 { return float64(parts.size()) }),
		counter("verdict_heuristic_resolutions_total", "Heuristic resolutions (tx forget) this node logged as the leader.",
			func() float64 { return float64(c.HeuristicCount()) }),
		counter("verdict_events_dropped_total", "Lifecycle events dropped: their queue was full, or NATS refused them.",
			func() float64 { return float64(link.dropped()) }),
		gauge("verdict_ready", "1 once the node has applied its log (see the health service), else 0.",
			func() float64 { return flag(ready()) }),
		gauge("verdict_raft_term", "The node's current Raft term.",
			func() float64 { return float64(node.Status().Term) }),
		gauge("verdict_raft_leader", "1 while this node is the ready leader, else 0.",
			func() float64 { _, ok := node.LeaderTerm(); return flag(ok) }),
		gauge("verdict_raft_commit_index", "The node's Raft commit index.",
			func() float64 { return float64(node.Status().Commit) }),
		gauge("verdict_raft_applied_index", "The last Raft log index the node applied.",
			func() float64 { return float64(node.Status().Applied) }),
		counter("verdict_raft_leader_changes_total", "Times this node learned of a new Raft leader.",
			func() float64 { return float64(node.Counters().LeaderChanges) }),
		counter("verdict_raft_proposals_total", "Proposals this node handed to Raft (each a batch of log records).",
			func() float64 { return float64(node.Counters().Proposals) }),
	)
	for _, r := range txlog.DropReasons {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "verdict_raft_messages_dropped_total",
			Help:        "Raft messages from peers this node dropped, by reason: invalid (no peer sends it), not_member (sender id not in the applied configuration), identity (under TLS, sender id not the one the certificate names; a stream whose certificate names none counts once), unsafe (refused before Raft saw it: an absurd term, an invalid snapshot or log slice; or a heartbeat whose commit index was cut back).",
			ConstLabels: prometheus.Labels{"reason": string(r)},
		}, func() float64 { return float64(node.Dropped()[r]) }))
	}
}

// watchConnections registers the collectors of the connections l serves
// and refuses.
func (m *metrics) watchConnections(l *hostLimitListener) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "verdict_connections",
			Help: "Connections the node serves (callers, participants, operators and peers).",
		}, func() float64 { return float64(l.connections()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "verdict_connections_refused_total",
			Help: "Connections closed as soon as accepted because their host (IP address) had --max-connections-per-host open.",
		}, func() float64 { return float64(l.refusedCount()) }),
	)
}

// WALSynced implements txlog.Observer.
func (m *metrics) WALSynced(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// SnapshotSaved implements txlog.Observer.
func (m *metrics) SnapshotSaved(bytes int) { m.snapshotBytes.Observe(float64(bytes)) }

// Committed implements engine.Observer.
func (m *metrics) Committed(path engine.CommitPath, began time.Time) {
	m.commits.WithLabelValues(string(path)).Inc()
	m.commitLatency.Observe(time.Since(began).Seconds())
}

// Aborted implements engine.Observer.
func (m *metrics) Aborted(c engine.AbortCause) { m.aborts.WithLabelValues(string(c)).Inc() }

// Retried implements engine.Observer.
func (m *metrics) Retried() { m.retries.Inc() }
