package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testwait"
)

// probe answers a node's readiness: 0 once /readyz says ready, 1 for a
// path that is not served or an address nobody listens on, 2 for no URL.
func TestProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := coordinator.Start(coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: l.Addr().String()}, DataDir: t.TempDir(), Listener: l,
		MetricsAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	base := "http://" + srv.MetricsAddr()
	testwait.For(t, 10*time.Second, "the node ready", func() bool {
		code, _, _ := ctl(t, "probe", base+"/readyz")
		return code == exitOK
	})
	if code, out, _ := ctl(t, "probe", base+"/readyz"); code != exitOK || !strings.Contains(out, "200 OK") {
		t.Errorf("probe /readyz: exit %d, %q", code, out)
	}
	if code, _, errs := ctl(t, "probe", base+"/nothing-here"); code != exitFailure || !strings.Contains(errs, "404") {
		t.Errorf("probe of a path not served: exit %d, %q", code, errs)
	}
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := down.Addr().String()
	down.Close()
	if code, _, _ := ctl(t, "probe", "http://"+addr+"/readyz"); code != exitFailure {
		t.Errorf("probe of a closed port: exit %d, want %d", code, exitFailure)
	}
	for _, args := range [][]string{{"probe"}, {"probe", "127.0.0.1:9090/readyz"}} {
		if code, _, errs := ctl(t, args...); code != exitUsage || !strings.Contains(errs, "http://127.0.0.1:9090/readyz") {
			t.Errorf("%v: exit %d, %q; want usage with an example", args, code, errs)
		}
	}
}

// The global flags left out come from VERDICT_ENDPOINTS and the others.
func TestGlobalsFromEnvironment(t *testing.T) {
	addr := startNode(t)
	t.Setenv(endpointsEnv, addr)
	if code, _, errs := ctl(t, "cluster", "status"); code != exitOK {
		t.Fatalf("cluster status with %s=%s: exit %d: %s", endpointsEnv, addr, code, errs)
	}
	// The flag wins over the environment.
	t.Setenv(endpointsEnv, "127.0.0.1:1")
	if code, _, errs := ctl(t, "cluster", "status", "--endpoints", addr); code != exitOK {
		t.Fatalf("cluster status --endpoints over a wrong %s: exit %d: %s", endpointsEnv, code, errs)
	}
	t.Setenv(tlsCAEnv, "/nonexistent/ca.pem")
	if code, _, errs := ctl(t, "cluster", "status", "--endpoints", addr); code != exitUsage || !strings.Contains(errs, "ca.pem") {
		t.Fatalf("cluster status with %s naming no file: exit %d: %s", tlsCAEnv, code, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if code, out, _ := ctl(t, args...); code != exitOK || !strings.HasPrefix(out, "verdictctl ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}
