package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
)

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// The console's pages, read from a follower (its reads are forwarded to
// the leader): the cluster, the transactions with their filters and
// counts, a stuck transaction with its failed deliveries in the timeline,
// the search, an unknown and a malformed id, and the live numbers.
func TestConsolePages(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.ConsoleAddr = "127.0.0.1:0"
		cfg.MetricsAddr = "127.0.0.1:0"
		cfg.StuckAfter = 200 * time.Millisecond
		cfg.MaxRetryBackoff = time.Hour
		cfg.knobs = &engine.TestingKnobs{FirstRetry: 100 * time.Millisecond}
	})
	leader := c.leader()
	p1, p2, _, cl := c.withFailingP2()
	ctx := context.Background()
	stuck, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, stuck, participant.TxCommitted, p1)
	base := "http://" + c.follower().ConsoleAddr()

	code, body := get(t, base+"/")
	if code != http.StatusOK {
		t.Fatalf("cluster page: %d\n%s", code, body)
	}
	mustContain(t, "the cluster page", body, "Members", "leader", leader.Addr(), "(this node)", "Commit index")

	testwait.For(t, 10*time.Second, "the transaction listed as stuck", func() bool {
		_, body := get(t, base+"/transactions?stuck=1")
		return strings.Contains(body, stuck)
	})
	code, body = get(t, base+"/transactions?stuck=1&state=committed&participant=p2&older=0s")
	if code != http.StatusOK {
		t.Fatalf("transactions page: %d", code)
	}
	mustContain(t, "the stuck filter", body, stuck, "stuck", "database unavailable", "committed")
	if _, body = get(t, base+"/transactions?participant=nobody"); strings.Contains(body, stuck) {
		t.Error("the participant filter kept a transaction of other participants")
	}
	mustContain(t, "the counts", body, "Transactions per state", "committed")

	code, body = get(t, base+"/transactions/"+stuck)
	if code != http.StatusOK {
		t.Fatalf("transaction page: %d\n%s", code, body)
	}
	mustContain(t, "the transaction page", body, stuck, "p1", "p2", "acknowledged", "not acknowledged",
		`<svg class="timeline"`, `class="mark failed"`, `class="mark ack"`, "database unavailable")

	if code, body = get(t, base+"/transactions?q="+stuck); code != http.StatusSeeOther {
		t.Errorf("search by txid: %d, want a redirect", code)
	}
	code, body = get(t, base+"/transactions/01936b2a-0000-7000-8000-000000000001")
	if code != http.StatusNotFound || !strings.Contains(body, "presumed aborted") {
		t.Errorf("an unknown transaction: %d, want 404 saying presumed aborted", code)
	}
	if code, _ = get(t, base+"/transactions/not-a-txid"); code != http.StatusBadRequest {
		t.Errorf("a malformed txid: %d, want 400", code)
	}
	if code, body = get(t, base+"/transactions?older=soon"); code != http.StatusBadRequest || !strings.Contains(body, "5m") {
		t.Errorf("a bad filter: %d, want 400 with an example", code)
	}

	// Live numbers: the leader's console counts the commit.
	lbase := "http://" + leader.ConsoleAddr()
	testwait.For(t, 15*time.Second, "the live series", func() bool {
		_, body := get(t, lbase+"/live.json")
		var live struct {
			Points []struct {
				Commits float64  `json:"commits_per_sec"`
				P50     *float64 `json:"commit_p50_ms"`
			} `json:"points"`
		}
		if err := json.Unmarshal([]byte(body), &live); err != nil {
			t.Fatalf("live.json: %v: %s", err, body)
		}
		for _, p := range live.Points {
			if p.Commits > 0 && p.P50 != nil {
				return true
			}
		}
		// Keep committing so that a second sees commits.
		_, _ = runTx(ctx, cl, p1)
		return false
	})
	code, body = get(t, lbase+"/live")
	mustContain(t, "the live page", body, "Commits/s", "/static/live.js")
	if code, _ = get(t, lbase+"/static/style.css"); code != http.StatusOK {
		t.Errorf("style.css: %d", code)
	}
}
