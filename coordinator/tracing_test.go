package coordinator

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/tracing"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// One Run across two participants is one trace: the transaction's span,
// Begin, the work calls, the enlistments, Commit, the decision, the
// Prepares and each phase-2 delivery, every one in the same trace, and
// Verdict's own spans name the transaction.
func TestTracingOneTracePerTransaction(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	c := newTunedCluster(t, 1, func(cfg *Config) { cfg.TracerProvider = tp })
	eps := c.endpoints()
	c.leader()
	p1, p2 := startTracedParticipant(t, "p1", eps, tp), startTracedParticipant(t, "p2", eps, tp)
	cl, err := client.Dial(eps, client.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })

	ctx := context.Background()
	var txid string
	err = cl.Run(ctx, func(ctx context.Context) error {
		tx, _ := client.FromContext(ctx)
		txid = tx.ID()
		if err := worksvc.Stage(ctx, p1.conn, "k1"); err != nil {
			return err
		}
		return worksvc.Stage(ctx, p2.conn, "k2")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*tracedParticipant{p1, p2} {
		testwait.For(t, 10*time.Second, "phase 2 at "+p.name, func() bool { return p.res.State(txid) == participant.TxCommitted })
	}

	want := map[string]int{
		"verdict.tx":                          1,
		"verdict.v1.Coordinator/Begin":        2, // client and server
		"verdict.work.Work/Stage":             4,
		"verdict.enlist":                      2,
		"verdict.v1.Coordinator/Enlist":       4,
		"verdict.v1.Coordinator/Commit":       2,
		"verdict.decide":                      1,
		"verdict.prepare":                     2,
		"verdict.v1.Participant/Prepare":      4,
		"verdict.v1.Participant/Commit":       4,
		"verdict.phase2 committed " + p1.addr: 1,
		"verdict.phase2 committed " + p2.addr: 1,
	}
	var spans tracetest.SpanStubs
	testwait.For(t, 10*time.Second, "every span ended", func() bool {
		spans = exp.GetSpans()
		got := map[string]int{}
		for _, s := range spans {
			got[s.Name]++
		}
		for name, n := range want {
			if got[name] < n {
				return false
			}
		}
		return true
	})
	root := spans[0].SpanContext.TraceID()
	for _, s := range spans {
		if _, ok := want[s.Name]; !ok {
			continue
		}
		if s.SpanContext.TraceID() != root {
			t.Errorf("span %s is in trace %s, not the transaction's %s", s.Name, s.SpanContext.TraceID(), root)
		}
		named := s.Name == "verdict.tx" || s.Name == "verdict.decide" ||
			s.Name == "verdict.v1.Coordinator/Commit" && s.SpanKind == trace.SpanKindServer
		if named && !hasTxid(s, txid) {
			t.Errorf("span %s does not name the transaction: %v", s.Name, s.Attributes)
		}
	}
}

func hasTxid(s tracetest.SpanStub, txid string) bool {
	for _, a := range s.Attributes {
		if a.Key == tracing.TxidKey && a.Value.AsString() == txid {
			return true
		}
	}
	return false
}

// tracedParticipant is an in-memory participant whose gRPC server and the
// initiator's connection to it are traced, as an application would trace
// its own.
type tracedParticipant struct {
	name, addr string
	res        *participant.MemResource
	conn       *grpc.ClientConn
}

func startTracedParticipant(t *testing.T, name string, coordinators []string, tp *sdktrace.TracerProvider) *tracedParticipant {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res := participant.NewMemResource()
	srv, err := participant.NewServer(participant.Config{
		Name: name, Address: l.Addr().String(), Resource: res, Coordinators: coordinators,
		TracerProvider: tp, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	prop := otelgrpc.WithPropagators(propagation.TraceContext{})
	g := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), prop)),
		grpc.ChainUnaryInterceptor(srv.UnaryServerInterceptor()))
	srv.Register(g)
	worksvc.Register(g, res)
	go func() { _ = g.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), prop)),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		srv.Stop()
	})
	return &tracedParticipant{name: name, addr: l.Addr().String(), res: res, conn: conn}
}
