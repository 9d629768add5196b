package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get GETs url and returns its status and body; status 0 if unreachable.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verdict --metrics-addr serves /readyz, /healthz and /metrics; SIGTERM
// stops it cleanly.
func TestMetricsAddrFlag(t *testing.T) {
	metrics := freeAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"--peers", "1=" + freeAddr(t), "--data-dir", t.TempDir(), "--metrics-addr", metrics, "--pprof", "--log-level", "error"}, nil)
	}()
	base := "http://" + metrics
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("verdict exited: %v", err)
		default:
		}
		if code, _ := get(base + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for /readyz to answer 200")
		}
	}
	if code, _ := get(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	code, body := get(base + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d, want 200", code)
	}
	for _, name := range []string{"verdict_commits_total", "verdict_aborts_total", "verdict_raft_term", "verdict_wal_fsync_duration_seconds", "verdict_ready 1"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if code, body := get(base + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine with --pprof = %d %.80q", code, body)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("verdict after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("verdict did not stop after SIGTERM")
	}
}

func TestMetricsAddrFlagInvalid(t *testing.T) {
	err := run([]string{"--peers", "1=" + freeAddr(t), "--data-dir", t.TempDir(), "--metrics-addr", "no-port", "--log-level", "error"}, nil)
	if err == nil || !strings.Contains(err.Error(), "metrics address") {
		t.Fatalf("run with --metrics-addr no-port = %v, want an error about the metrics address", err)
	}
}
