package coordinator

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// scrape fetches and parses the node's /metrics over HTTP.
func scrape(t testing.TB, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// gather reads the node's registry directly (no metrics address needed).
func gather(t testing.TB, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	list, err := s.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := make(map[string]*dto.MetricFamily, len(list))
	for _, f := range list {
		fams[f.GetName()] = f
	}
	return fams
}

// value is the value of the series of name whose labels include
// labelPairs (name, value, ...): a counter's or gauge's value, a
// histogram's count. A missing series fails the test.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labelPairs ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s not exposed", name)
	}
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labelPairs); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1])
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no series %v", name, labelPairs)
	return 0
}

// A node's /metrics, scraped over HTTP, counts a committed transaction and
// its latency, aborts by reason (a NO vote, the initiator, an unknown txid,
// the deadline), phase-2 retries and the in-doubt and stuck
// transactions while a participant fails, and the Raft and WAL figures.
func TestMetricsScrape(t *testing.T) {
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.MetricsAddr = "127.0.0.1:0"
		cfg.StuckAfter = 100 * time.Millisecond
		cfg.MaxRetryBackoff = 50 * time.Millisecond
	})
	lead := c.leader()
	p1, p2, flaky, cl := c.withFlakyParticipant()
	ctx := context.Background()

	// Committed, with p2 failing phase 2 until told otherwise.
	flaky.fail.Store(true)
	committed, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	testwait.For(t, 10*time.Second, "the transaction in doubt, stuck, and retried", func() bool {
		m := scrape(t, lead)
		return value(t, m, "verdict_in_doubt_transactions") == 1 &&
			value(t, m, "verdict_stuck_transactions") == 1 &&
			value(t, m, "verdict_phase2_retries_total") >= 2
	})
	flaky.fail.Store(false)
	waitState(t, committed, participant.TxCommitted, p2)
	testwait.For(t, 10*time.Second, "phase 2 done", func() bool {
		m := scrape(t, lead)
		return value(t, m, "verdict_in_doubt_transactions") == 0 && value(t, m, "verdict_stuck_transactions") == 0
	})

	// Aborted: by p2's NO vote, then by the initiator.
	p2.res.SetVote(func(context.Context, string) (participant.Vote, error) { return participant.VoteNo, nil })
	if _, err := runTx(ctx, cl, p1, p2); !errors.Is(err, client.ErrAborted) {
		t.Fatalf("commit with a NO vote: %v, want aborted", err)
	}
	tx := beginStaged(t, cl, p1)
	if err := tx.Abort(ctx, "changed my mind"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	// A Commit of a transaction never begun: presumed abort.
	unknown, err := txid.New()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := coordClient(t, lead.Addr()).Commit(ctx, &verdictv1.CommitRequest{Txid: unknown})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("Commit of an unknown transaction = %v, %v; want ABORTED", resp, err)
	}
	// Left to its deadline, which the leader's sweep enforces.
	if _, err := cl.Begin(ctx, client.WithTimeout(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "an abort at the deadline counted", func() bool {
		return value(t, scrape(t, lead), "verdict_aborts_total", "reason", "deadline") == 1
	})

	m := scrape(t, lead)
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"verdict_commits_total", []string{"path", "logged"}, 1},
		{"verdict_commits_total", []string{"path", "one_phase"}, 0},
		{"verdict_commit_latency_seconds", nil, 1},
		{"verdict_aborts_total", []string{"reason", "vote_no"}, 1},
		{"verdict_aborts_total", []string{"reason", "initiator"}, 1},
		{"verdict_aborts_total", []string{"reason", "unknown_tx"}, 1},
		{"verdict_aborts_total", []string{"reason", "prepare_error"}, 0},
		{"verdict_ready", nil, 1},
		{"verdict_raft_leader", nil, 1},
		{"verdict_connections_refused_total", nil, 0},
	} {
		if got := value(t, m, want.name, want.labels...); got != want.value {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, got, want.value)
		}
	}
	for _, name := range []string{
		"verdict_raft_term", "verdict_raft_leader_changes_total", "verdict_raft_proposals_total",
		"verdict_raft_commit_index", "verdict_raft_applied_index",
		"verdict_wal_fsync_duration_seconds", "verdict_snapshot_size_bytes",
		"verdict_connections", // the client's and the participants'
	} {
		if got := value(t, m, name); got < 1 {
			t.Errorf("%s = %v, want at least 1", name, got)
		}
	}
	noViolations(t, p1, p2)
}

// Each node has a registry of its own: two nodes in one process count
// their own transactions only.
func TestMetricsPerNode(t *testing.T) {
	a := newTunedCluster(t, 1, nil)
	b := newTunedCluster(t, 1, nil)
	a.leader()
	b.leader()
	p1, p2, cl := a.withParticipants()
	if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
		t.Fatal(err)
	}
	count := func(s *Server) float64 {
		fams, err := s.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "verdict_commits_total" {
				n := 0.0
				for _, m := range f.GetMetric() {
					n += m.GetCounter().GetValue()
				}
				return n
			}
		}
		t.Fatal("verdict_commits_total not gathered")
		return 0
	}
	if ca, cb := count(a.leader()), count(b.leader()); ca != 1 || cb != 0 {
		t.Errorf("commits counted by the two nodes = %v, %v; want 1, 0", ca, cb)
	}
	if a.leader().MetricsAddr() != "" {
		t.Errorf("MetricsAddr = %q without Config.MetricsAddr, want empty", a.leader().MetricsAddr())
	}
}
