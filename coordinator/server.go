package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/tracing"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// streamWorkers is the gRPC server's pool of call-handling goroutines.
const streamWorkers = 64

// Server is one running coordinator node.
type Server struct {
	cfg     Config
	log     *slog.Logger
	lis     net.Listener
	grpc    *grpc.Server
	node    *txlog.Node
	coord   *engine.Engine
	parts   *participantPool
	nats    *natsLink // nil without Config.NatsURL
	fwd     *forwarder
	metrics *metrics
	health  *health
	// mlis and http serve Config.MetricsAddr; nil without it.
	mlis net.Listener
	// admin is the Admin service, which the state checks call in process.
	admin *admin
	// checkNow wakes the leader's state checker (requestStateCheck).
	checkNow chan struct{}
	// clis and console serve the web console on Config.ConsoleAddr; nil
	// without it.
	clis    net.Listener
	console *http.Server
	http    *http.Server
	// wg counts the server's own goroutines: the gRPC and HTTP serve loops
	// and the node watcher, which ctx (cancelled by Stop) ends.
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// done is closed when the node stops (see Done); err, set before,
	// is why.
	done     chan struct{}
	doneOnce sync.Once
	err      error
}

// Start opens the node's data dir, joins (or restarts) the Raft group and
// serves on the node's address until Stop.
func Start(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.ID)
	lis := cfg.Listener
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", cfg.listenAddr()); err != nil {
			return nil, fmt.Errorf("verdict: listen: %w", err)
		}
	}
	if cfg.TLS == nil && !isLoopback(lis.Addr().String()) {
		log.Warn("serving plaintext on a non-loopback address (--insecure-plaintext): calls are neither encrypted nor authenticated", "addr", lis.Addr().String())
	}
	if cfg.TLS == nil && cfg.AdminToken != "" {
		log.Warn("an admin token without TLS protects only the Admin service: peers are recognised by their IP address alone, so whoever can reach the node from a member's address, or intercept the token, can act on the cluster; rely on network isolation or serve TLS", "addr", lis.Addr().String())
	}
	var mlis net.Listener
	if cfg.MetricsAddr != "" {
		var err error
		if mlis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			lis.Close()
			return nil, fmt.Errorf("verdict: listen on the metrics address: %w", err)
		}
	}
	var link *natsLink
	if cfg.NatsURL == "" {
		log.Info("no NATS configured (--nats-url): lifecycle events and transactional messages are off")
	} else {
		var err error
		if link, err = connectNATS(cfg.NatsURL, log, cfg.EventQueue); err != nil {
			lis.Close()
			if mlis != nil {
				mlis.Close()
			}
			return nil, err
		}
		log.Info("NATS configured: lifecycle events and transactional messages are on", "url", cfg.NatsURL, "events", EventSubjectPrefix+">")
	}
	m := newMetrics()
	tracer := tracing.New(cfg.TracerProvider)
	cfg.DialOptions = append(slices.Clone(cfg.DialOptions), tracing.DialOptions(cfg.TracerProvider)...)
	parts := newParticipantPool(cfg.Clock, cfg.DialOptions, cfg.ParticipantIdleTimeout, cfg.MaxParticipantAddresses)
	parts.trace = tracer.Batch("verdict.prepare")
	var nodeRef atomic.Pointer[txlog.Node]
	deps := engine.Deps{Participants: parts, Observer: m}
	if tracer != nil {
		deps.Tracer = engineTracer{tracer}
	}
	if link != nil {
		deps.Publisher = link
	}
	c := engine.New(engine.Config{
		Self:                    cfg.ID,
		DefaultTimeout:          cfg.DefaultTimeout,
		MaxTimeout:              cfg.MaxTimeout,
		MaxParticipants:         cfg.MaxParticipants,
		MaxParticipantAddresses: cfg.MaxParticipantAddresses,
		MaxStagedBytes:          cfg.MaxStagedBytes,
		MaxOpenPerClient:        cfg.MaxOpenPerClient,
		MaxListBytes:            cfg.MaxListBytes,
		Retention:               cfg.Retention,
		MaxRetryBackoff:         cfg.MaxRetryBackoff,
		StuckAfter:              cfg.StuckAfter,
		IdleTimeout:             cfg.ParticipantIdleTimeout,
		Clock:                   cfg.Clock,
		Logger:                  log,
		Coordinators:            func() []string { return voters(nodeRef.Load()) },
		Knobs:                   cmp.Or(cfg.knobs, cfg.TestingKnobs),
	}, deps)
	node, err := txlog.StartNode(txlog.Config{
		ID:              cfg.ID,
		Peers:           cfg.Peers,
		Join:            cfg.Join,
		DataDir:         cfg.DataDir,
		StateMachine:    c.StateMachine(),
		OnLeadership:    c.OnLeadership,
		TickInterval:    cfg.TickInterval,
		ElectionTicks:   cfg.ElectionTicks,
		SnapshotEntries: cfg.SnapshotEntries,
		CompactionLag:   cfg.CompactionLag,
		DialOptions:     cfg.DialOptions,
		Logger:          cfg.Logger,
		Observer:        m,
	})
	if err != nil {
		c.Stop() // started nothing yet
		parts.close()
		link.close()
		lis.Close()
		if mlis != nil {
			mlis.Close()
		}
		return nil, err
	}
	nodeRef.Store(node)
	// The engine starts before any call can reach it.
	c.Start(raftLog{node})
	au := newAuth(&cfg, node)
	sctx, scancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		log:      log,
		lis:      lis,
		node:     node,
		coord:    c,
		parts:    parts,
		nats:     link,
		fwd:      newForwarder(node, c.LeaderTerm, cfg.DialOptions, au),
		metrics:  m,
		health:   newHealth(node),
		mlis:     mlis,
		done:     make(chan struct{}),
		checkNow: make(chan struct{}, 1),
		ctx:      sctx,
		cancel:   scancel,
		grpc: grpc.NewServer(slices.Concat(serverCredentials(&cfg), connOptions(&cfg), tracing.ServerOptions(cfg.TracerProvider), []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(au.unary),
			grpc.ChainStreamInterceptor(au.stream),
			// Pooled stream workers reuse goroutines (and their grown
			// stacks) across calls; calls beyond the pool get their own.
			grpc.NumStreamWorkers(streamWorkers),
			// Stop waits for handlers, so none starts engine work after
			// the engine has stopped.
			grpc.WaitForHandlers(true),
		})...),
	}
	coordSvc := &service{c: c, fwd: s.fwd, maxParticipants: cfg.MaxParticipants}
	adminSvc := &admin{node: node, coord: c, fwd: s.fwd, checkNow: s.requestStateCheck}
	s.admin = adminSvc
	verdictv1.RegisterCoordinatorServer(s.grpc, coordSvc)
	verdictv1.RegisterAdminServer(s.grpc, adminSvc)
	node.Register(s.grpc)
	healthpb.RegisterHealthServer(s.grpc, s.health.grpc)
	// Server reflection, so that grpcurl and other tools can list and call
	// the services without the .proto files; its calls are authorised as
	// the Coordinator service's are.
	reflection.Register(s.grpc)
	s.metrics.watch(node, c, parts, link, s.health.isReady)

	hosts := newHostLimitListener(lis, cfg.MaxConnectionsPerHost, log)
	s.metrics.watchConnections(hosts)
	s.goroutine(func() { _ = s.grpc.Serve(hosts) })
	s.goroutine(s.watchNode)
	if cfg.StateCheckInterval > 0 {
		s.goroutine(func() { s.checkStates(cfg.StateCheckInterval) })
	}
	s.goroutine(s.refuseLeadership)
	s.goroutine(s.checkAfterStart)
	if mlis != nil {
		s.http = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.goroutine(func() { _ = s.http.Serve(mlis) })
	}
	if link != nil {
		link.start()
	}
	if cfg.ConsoleAddr != "" {
		if err := s.startConsole(coordSvc, adminSvc); err != nil {
			s.Stop()
			return nil, err
		}
		log.Info("web console serving", "addr", s.ConsoleAddr())
	}
	log.Info("coordinator node started", "addr", lis.Addr().String(), "data_dir", cfg.DataDir, "peers", len(cfg.Peers), "metrics_addr", s.MetricsAddr())
	return s, nil
}

func (s *Server) goroutine(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Addr is the address the node serves on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// EventsDropped is the number of lifecycle events this node dropped (its
// queue was full, or NATS refused them); 0 without NATS.
func (s *Server) EventsDropped() uint64 { return s.nats.dropped() }

// MetricsAddr is the address /metrics, /healthz and /readyz are served on;
// empty without Config.MetricsAddr.
func (s *Server) MetricsAddr() string {
	if s.mlis == nil {
		return ""
	}
	return s.mlis.Addr().String()
}

// Metrics is the node's Prometheus registry, for a program that serves it
// itself or adds collectors of its own; the metric names are listed in the
// README.
func (s *Server) Metrics() *prometheus.Registry { return s.metrics.reg }

// Ready reports whether the node has applied its log and serves (see the
// health service).
func (s *Server) Ready() bool { return s.health.isReady() }

// HeuristicCount is the number of heuristic resolutions (tx forget) this
// node has made as the leader since it started. Each resolution is counted
// once, on the leader that logged it: summed over the nodes, it counts
// the cluster's resolutions.
func (s *Server) HeuristicCount() uint64 { return s.coord.HeuristicCount() }

// Node is the node's Raft member (tests use it to inject faults).
func (s *Server) Node() *txlog.Node { return s.node }

// Done is closed when the node has stopped: once Stop has returned, or
// as soon as its Raft loop halts on a fatal storage error (a failed WAL
// write or fsync). After a fatal error the node still answers calls
// (Unavailable: it leads no more) until Stop is called, which the caller
// does in any case to release it.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the node stopped, once Done is closed: nil after Stop, or
// the fatal storage error that halted its Raft loop (wrapped).
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// finish closes Done with err; the first call wins.
func (s *Server) finish(err error) {
	s.doneOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Stop stops the node and waits for every goroutine it started, in this
// order: it stops accepting calls (health NOT_SERVING, then the gRPC
// server, which waits for the calls in progress: the engine's work is
// cancelled first, so that none waits on it), then the engine (every
// goroutine it owns), the participant pool (its batchers, then its
// connections), the NATS link (its event publisher, then its connection),
// the Raft node, the metrics listener, the forwarder's connections and the
// server's own goroutines. Done is closed once it returns.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		s.health.stop()
		if s.console != nil {
			// Pages and actions in progress finish before the engine
			// stops; new ones are refused.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.console.Shutdown(ctx)
			cancel()
			s.console.Close() // what did not finish in time
		}
		s.coord.BeginStop()
		s.grpc.Stop()
		s.coord.Stop()
		s.parts.close()
		s.nats.close()
		s.node.Stop()
		if s.http != nil {
			s.http.Close()
		}

		s.fwd.close()
		s.wg.Wait()
		s.finish(nil)
	})
}

// voters lists the addresses of node's voting members.
func voters(node *txlog.Node) []string {
	if node == nil {
		return nil
	}
	var addrs []string
	for _, m := range node.Status().Members {
		if m.Address != "" && !m.Learner {
			addrs = append(addrs, m.Address)
		}
	}
	return addrs
}
