package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
)

// startNode runs a single-node coordinator on 127.0.0.1 and waits until it
// serves.
func startNode(t *testing.T) string {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with tune, if set, applied to the node's
// Config.
func startNodeWith(t *testing.T, tune func(*coordinator.Config)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: l.Addr().String()}, DataDir: t.TempDir(), Listener: l,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := coordinator.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := srv.Node().LeaderTerm(); ok {
			return srv.Addr()
		}
		if time.Now().After(deadline) {
			t.Fatal("node never became leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	addr := startNode(t)
	ep := "--endpoints=" + addr

	code, out, errs := ctl(t, "cluster", "status", ep, "-o", "json")
	if code != exitOK {
		t.Fatalf("cluster status: exit %d: %s", code, errs)
	}
	var st struct {
		Leader  uint64            `json:"leader"`
		Members []json.RawMessage `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Leader != 1 || len(st.Members) != 1 {
		t.Fatalf("cluster status json = %s (%v); want leader 1 and one member", out, err)
	}

	code, out, errs = ctl(t, "bench", ep, "--duration", "2s", "--min-commits", "10", "--max-duration", "2m", "--warmup", "200ms", "--concurrency", "4", "--participants", "2", "-o", "json")
	if code != exitOK {
		t.Fatalf("bench: exit %d: %s", code, errs)
	}
	var br map[string]any
	if err := json.Unmarshal([]byte(out), &br); err != nil {
		t.Fatalf("bench json: %v: %s", err, out)
	}
	for _, k := range []string{"commits_per_sec", "p50_ms", "p99_ms", "errors", "calls_per_tx"} {
		if _, ok := br[k]; !ok {
			t.Errorf("bench json lacks %q: %s", k, out)
		}
	}
	if br["commits"].(float64) <= 0 || br["errors"] != 0.0 || br["violations"] != 0.0 || br["unresolved"] != 0.0 {
		t.Fatalf("bench: %s; want commits and no errors", out)
	}

	code, out, errs = ctl(t, "tx", "list", ep, "--all", "--limit", "5", "-o", "json")
	if code != exitOK {
		t.Fatalf("tx list: exit %d: %s", code, errs)
	}
	var list struct {
		Transactions []struct {
			Txid  string `json:"txid"`
			State string `json:"state"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Transactions) == 0 {
		t.Fatalf("tx list json = %s (%v); want transactions", out, err)
	}
	id := list.Transactions[0].Txid

	code, out, errs = ctl(t, "tx", "show", id, ep)
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "committed") {
		t.Fatalf("tx show: exit %d, out %q, err %q", code, out, errs)
	}
	if code, _, errs := ctl(t, "tx", "show", "01936b2a-0000-7000-8000-000000000001", ep); code != exitUsage || !strings.Contains(errs, "presumed aborted") {
		t.Errorf("tx show of an unknown id: exit %d, %q; want %d and presumed aborted", code, errs, exitUsage)
	}
	if code, _, _ = ctl(t, "tx", "show", "not-a-uuid", ep); code != exitUsage {
		t.Errorf("tx show malformed id: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ = ctl(t, "tx", "show", "01936b2a-0000-7000-8000-000000000001", ep); code != exitUsage {
		t.Errorf("tx show unknown id: exit %d, want %d", code, exitUsage)
	}
	// The bench's transactions are done: nothing stuck, nothing to retry.
	code, out, errs = ctl(t, "tx", "list", "--stuck", ep)
	if code != exitOK || !strings.Contains(out, "No stuck transactions") {
		t.Errorf("tx list --stuck: exit %d, out %q, err %q", code, out, errs)
	}
	code, _, errs = ctl(t, "tx", "retry", id, ep)
	if code != exitFailure || !strings.Contains(errs, "nothing to retry") {
		t.Errorf("tx retry of a done transaction: exit %d, err %q; want %d and a reason", code, errs, exitFailure)
	}
	if code, _, _ = ctl(t, "tx", "retry", "01936b2a-0000-7000-8000-000000000001", ep); code != exitUsage {
		t.Errorf("tx retry unknown id: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ = ctl(t, "nonsense"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	// Nothing listens on a port just released: the cluster is unreachable.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if code, _, _ = ctl(t, "cluster", "status", "--endpoints", dead, "--timeout", "300ms"); code != exitFailure {
		t.Errorf("unreachable cluster: exit %d, want %d", code, exitFailure)
	}
}
