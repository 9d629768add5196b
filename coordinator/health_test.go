package coordinator

import (
	"context"
	"net/http"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func healthClient(t testing.TB, addr string) healthpb.HealthClient {
	t.Helper()
	return healthpb.NewHealthClient(testConn(t, addr))
}

func checkHealth(t testing.TB, hc healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check of %q: %v", service, err)
	}
	return resp.GetStatus()
}

// httpStatus GETs path on the node's metrics address.
func httpStatus(t testing.TB, s *Server, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + s.MetricsAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A node that cannot reach a quorum cannot catch up: it is live but not
// ready (gRPC health NOT_SERVING, /readyz 503). Once the other members
// start, a leader is elected and every node turns SERVING; the health
// watch of the first node sees the change.
func TestHealthReadyOnceCaughtUp(t *testing.T) {
	c, lis := reserveCluster(t, 3, func(cfg *Config) { cfg.MetricsAddr = "127.0.0.1:0" })
	s1 := c.start(1, lis[1])
	hc := healthClient(t, s1.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: verdictv1.Coordinator_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("first status of a node alone in a 3-node cluster = %v, want NOT_SERVING", first.GetStatus())
	}
	// Alone, node 1 can elect no leader (it needs 2 of 3 votes): for a few
	// election timeouts it must stay unready, though live.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if st := checkHealth(t, hc, ""); st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("node without a quorum: health %v, want NOT_SERVING", st)
		}
	}
	if got := httpStatus(t, s1, "/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a node without a quorum = %d, want 503", got)
	}
	if got := httpStatus(t, s1, "/healthz"); got != http.StatusOK {
		t.Errorf("/healthz of a running node = %d, want 200", got)
	}
	if got := httpStatus(t, s1, "/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without Config.Profiling = %d, want 404", got)
	}

	c.start(2, lis[2])
	c.start(3, lis[3])
	next, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if next.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status after the quorum started = %v, want SERVING", next.GetStatus())
	}
	for _, s := range c.running() {
		testwait.For(t, 10*time.Second, "every node ready", s.Ready)
		for _, svc := range healthServices {
			if st := checkHealth(t, healthClient(t, s.Addr()), svc); st != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("node %d: health of %q = %v, want SERVING", s.Node().ID(), svc, st)
			}
		}
		if got := httpStatus(t, s, "/readyz"); got != http.StatusOK {
			t.Errorf("node %d: /readyz = %d, want 200", s.Node().ID(), got)
		}
	}
}

// A follower restarted after the cluster committed more is ready only once
// it has applied at least what the leader had committed.
func TestHealthRestartedFollowerCatchesUp(t *testing.T) {
	c := newCluster(t, 3)
	p1, p2, cl := c.withParticipants()
	f := c.follower()
	id := f.Node().ID()
	c.stop(id)
	for i := 0; i < 5; i++ {
		if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
			t.Fatal(err)
		}
	}
	committed := c.leader().Node().Status().Commit
	s := c.start(id, nil)
	testwait.For(t, 10*time.Second, "the restarted follower ready", s.Ready)
	if applied := s.Node().Status().Applied; applied < committed {
		t.Errorf("ready at applied index %d, below the leader's commit index %d before the restart", applied, committed)
	}
	if st := checkHealth(t, healthClient(t, s.Addr()), ""); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, want SERVING", st)
	}
}
