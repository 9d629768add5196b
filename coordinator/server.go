package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/prometheus/client_golang/prometheus"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// streamWorkers is the gRPC server's pool of call-handling goroutines.
const streamWorkers = 64

// Config configures one coordinator node. Each node serves clients,
// participants and peers on one address: its entry in Peers.
type Config struct {
	// ID of this node: non-zero, never reused.
	ID uint64
	// Peers maps every member's id to its address (host:port).
	Peers map[uint64]string
	// Join starts a node with an empty data dir as a new member of a
	// running cluster (added first with Admin.AddMember) instead of
	// bootstrapping a cluster from Peers; Peers then names the existing
	// members and this node. See txlog.Config.Join.
	Join bool
	// DataDir holds the node's WAL and snapshots.
	DataDir string
	// Listener, if set, is used instead of listening on Peers[ID] (tests
	// pass one bound to 127.0.0.1:0).
	Listener net.Listener
	// DefaultTimeout is a transaction's lifetime when Begin names none.
	// Default 30s.
	DefaultTimeout time.Duration
	// MaxTimeout is the longest lifetime Begin accepts. Default 10m.
	MaxTimeout time.Duration
	// MaxParticipants per transaction. Default 64.
	MaxParticipants int
	// MaxRequestBytes is the largest request a client may send, and the
	// largest answer the node sends. Default 4 MiB.
	MaxRequestBytes int
	// MaxConnectionsPerHost bounds the connections the node serves at
	// once from one IP address: clients', participants', operators' and
	// peers' alike (an IPv4-mapped IPv6 address counts as its IPv4 form;
	// connections from an address without an IP, a Unix socket's, count
	// as one host). A connection beyond it is closed as soon as it is
	// accepted, and its client retries; connections from other hosts are
	// served meanwhile. There is no bound across hosts: one would let
	// callers take the places of the peers' Raft connections. Default 256.
	MaxConnectionsPerHost int
	// MaxConcurrentStreams bounds the calls in progress on one connection
	// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a call stays in progress
	// until its caller has read the answer. A gRPC client's further calls
	// wait until one ends. Default 100.
	MaxConcurrentStreams int
	// MaxListBytes bounds the encoded size of a ListTransactions answer:
	// a page ends before the transaction that would exceed it (its
	// next_after_txid goes on from there), and holds at least one
	// transaction. At most MaxRequestBytes. Default 32 KiB: a page then
	// fits in a gRPC client's initial 64 KiB HTTP/2 stream window.
	MaxListBytes int
	// MaxOpenPerClient bounds the open transactions (begun, not yet
	// decided) of one client at the leader: Begin beyond it answers
	// ResourceExhausted. A client is named by its certificate's Common Name
	// under TLS, by its IP address otherwise. Default 10000.
	MaxOpenPerClient int
	// ParticipantIdleTimeout is how long a participant address may go
	// unused before its connection, prepare batcher and phase-2 sender are
	// released (an address that a transaction still names, or with
	// deliveries queued, is never idle). Default 5m.
	ParticipantIdleTimeout time.Duration
	// MaxParticipantAddresses bounds the distinct participant addresses
	// the leader holds at once (each costs a connection, a prepare
	// batcher and a phase-2 sender): Enlist or Commit naming one more
	// answers ResourceExhausted until some go idle. Phase 2 of decisions
	// already logged is delivered even beyond it. Default 4096.
	MaxParticipantAddresses int
	// MaxRetryBackoff caps the backoff between phase-2 delivery attempts.
	// Default 10s.
	MaxRetryBackoff time.Duration
	// StuckAfter is how long phase 2 may keep failing to reach a participant
	// before the transaction is marked stuck. Default 60s.
	StuckAfter time.Duration
	// Retention is how long a transaction stays answerable after its phase 2
	// completed (DONE); an older txid answers OUTCOME_EXPIRED. Default 15m.
	Retention time.Duration
	// NatsURL is the NATS server (or cluster, comma-separated URLs) this
	// node publishes to: lifecycle events on verdict.events.<kind> (see
	// Event), and, on the leader, the staged messages of committed
	// transactions to JetStream. Empty turns both off: Verdict logs so once
	// at start, and refuses to stage messages (FailedPrecondition).
	NatsURL string
	// MaxStagedBytes bounds the staged messages of one transaction (their
	// encoded size): staging beyond it is refused with ResourceExhausted.
	// They travel in the COMMIT record, so at most a quarter of
	// MaxRequestBytes (the largest message between nodes too). Default
	// 1 MiB.
	MaxStagedBytes int
	// EventQueue bounds the lifecycle events waiting to be published; a
	// full queue drops events (counted). Default 4096.
	EventQueue int
	// MetricsAddr, if set (host:port; port 0 picks one, see
	// Server.MetricsAddr), serves over HTTP /metrics (Prometheus, the
	// node's own registry: Server.Metrics), /healthz (live) and /readyz
	// (ready: see the health service). Empty: none of them; the registry
	// and the gRPC health service are there all the same.
	MetricsAddr string
	// Raft tuning; zero values take txlog's defaults.
	TickInterval    time.Duration
	ElectionTicks   int
	SnapshotEntries uint64
	CompactionLag   uint64
	// TLS, if set, is the node's server configuration: mutual TLS with
	// every caller (clients, participants, operators, peers). It must hold
	// the node's certificate (Certificates) and the deployment's CA
	// (ClientCAs); the node requires a client certificate signed by that
	// CA. Unless DialOptions are given, the node dials its peers and
	// participants with the same certificate, verifying them against the
	// same CA. Nil serves plaintext, which Start allows only on a loopback
	// address unless InsecurePlaintext is set.
	TLS *tls.Config
	// InsecurePlaintext allows serving plaintext (TLS nil) on an address
	// other than loopback; Start then logs a warning. Without it Start
	// refuses with ErrPlaintextNotLoopback.
	InsecurePlaintext bool
	// AdminToken, if set, authorises operator actions: every Admin RPC but
	// Status and Members requires either a call carrying metadata
	// "authorization: Bearer <AdminToken>" or (with TLS) a client
	// certificate with the admin role (AdminOU). With neither a token nor
	// TLS, Admin RPCs are open.
	AdminToken string
	// DialOptions for connections to peers and participants. Default: TLS
	// from the TLS field, or insecure without it.
	DialOptions []grpc.DialOption
	// Clock drives deadlines. Default: the system clock.
	Clock Clock
	// Logger. Default slog.Default().
	Logger *slog.Logger

	// hooks inject faults in the package's tests; nil otherwise.
	hooks *testHooks
}

func (c *Config) validate() error {
	if c.ID == 0 {
		return errors.New("verdict: node id must be non-zero")
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("verdict: peers must include this node's id %d", c.ID)
	}
	if c.DataDir == "" {
		return errors.New("verdict: data dir is required")
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 30 * time.Second
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 10 * time.Minute
	}
	if c.DefaultTimeout > c.MaxTimeout {
		return fmt.Errorf("verdict: default timeout %v exceeds max timeout %v", c.DefaultTimeout, c.MaxTimeout)
	}
	if c.MaxParticipants <= 0 {
		c.MaxParticipants = 64
	}
	if c.MaxOpenPerClient <= 0 {
		c.MaxOpenPerClient = 10000
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.MaxStagedBytes <= 0 {
		c.MaxStagedBytes = min(1<<20, c.MaxRequestBytes/4)
	}
	if c.MaxStagedBytes > c.MaxRequestBytes/4 {
		return fmt.Errorf("verdict: max staged bytes %d exceeds a quarter of max request bytes %d: a COMMIT record must fit in a message between nodes", c.MaxStagedBytes, c.MaxRequestBytes)
	}
	if err := c.validateConnLimits(); err != nil {
		return err
	}
	switch {
	case c.ParticipantIdleTimeout < 0:
		return fmt.Errorf("verdict: participant idle timeout %v must not be negative", c.ParticipantIdleTimeout)
	case c.ParticipantIdleTimeout == 0:
		c.ParticipantIdleTimeout = 5 * time.Minute
	}
	switch {
	case c.MaxParticipantAddresses < 0:
		return fmt.Errorf("verdict: max participant addresses %d must not be negative", c.MaxParticipantAddresses)
	case c.MaxParticipantAddresses == 0:
		c.MaxParticipantAddresses = 4096
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = 10 * time.Second
	}
	if c.StuckAfter <= 0 {
		c.StuckAfter = time.Minute
	}
	if c.Retention <= 0 {
		c.Retention = 15 * time.Minute
	}
	if err := c.validateTransport(); err != nil {
		return err
	}
	if len(c.DialOptions) == 0 {
		c.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is one running coordinator node.
type Server struct {
	cfg     Config
	lis     net.Listener
	grpc    *grpc.Server
	node    *txlog.Node
	coord   *Coordinator
	fwd     *forwarder
	metrics *metrics
	health  *health
	// mlis and http serve Config.MetricsAddr; nil without it.
	mlis net.Listener
	http *http.Server
	wg   sync.WaitGroup
	once sync.Once
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
		if lis, err = net.Listen("tcp", cfg.Peers[cfg.ID]); err != nil {
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
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg: engineConfig{
			defaultTimeout:  cfg.DefaultTimeout,
			maxTimeout:      cfg.MaxTimeout,
			maxParticipants: cfg.MaxParticipants,
			maxOpen:         cfg.MaxOpenPerClient,
			maxListBytes:    cfg.MaxListBytes,
			maxStagedBytes:  cfg.MaxStagedBytes,
			retention:       cfg.Retention,
			clock:           cfg.Clock,
			log:             log,
			hooks:           cfg.hooks,
		},
		fsm:          newFSM(log),
		active:       newActiveTable(),
		timeline:     newTimeline(cfg.Clock),
		parts:        newParticipantPool(ctx, cfg.DialOptions, cfg.ParticipantIdleTimeout, cfg.MaxParticipantAddresses),
		metrics:      newMetrics(),
		leaderEvents: make(chan struct{}, 1),
		stop:         make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
	}
	c.delivery = newDelivery(c, log, cfg.MaxRetryBackoff, cfg.StuckAfter, cfg.ParticipantIdleTimeout)
	c.confirm.c = c
	fail := func(err error) (*Server, error) {
		cancel()
		lis.Close()
		if mlis != nil {
			mlis.Close()
		}
		c.nats.close()
		return nil, err
	}
	if cfg.NatsURL == "" {
		log.Info("no NATS configured (--nats-url): lifecycle events and transactional messages are off")
	} else {
		link, err := connectNATS(cfg.NatsURL, log, cfg.EventQueue)
		if err != nil {
			return fail(err)
		}
		c.nats = link
		log.Info("NATS configured: lifecycle events and transactional messages are on", "url", cfg.NatsURL, "events", EventSubjectPrefix+">")
	}
	node, err := txlog.StartNode(txlog.Config{
		ID:              cfg.ID,
		Peers:           cfg.Peers,
		Join:            cfg.Join,
		DataDir:         cfg.DataDir,
		StateMachine:    c.fsm,
		OnLeadership:    c.onLeadership,
		TickInterval:    cfg.TickInterval,
		ElectionTicks:   cfg.ElectionTicks,
		SnapshotEntries: cfg.SnapshotEntries,
		CompactionLag:   cfg.CompactionLag,
		DialOptions:     cfg.DialOptions,
		Logger:          cfg.Logger,
		Observer:        c.metrics,
	})
	if err != nil {
		return fail(err)
	}
	c.node = node
	c.fsm.observe(c.applied)
	c.auth = newAuth(&cfg, node)
	c.prop = newProposer(node, log)
	c.cfg.coordinators = func() []string {
		var addrs []string
		for _, m := range node.Status().Members {
			if m.Address != "" && !m.Learner {
				addrs = append(addrs, m.Address)
			}
		}
		return addrs
	}
	s := &Server{
		cfg:     cfg,
		lis:     lis,
		node:    node,
		coord:   c,
		fwd:     newForwarder(node, c.leaderTerm, cfg.DialOptions, c.auth),
		metrics: c.metrics,
		health:  newHealth(node),
		mlis:    mlis,
		grpc: grpc.NewServer(slices.Concat(serverCredentials(&cfg), connOptions(&cfg), []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(c.auth.unary),
			grpc.ChainStreamInterceptor(c.auth.stream),
			// Pooled stream workers reuse goroutines (and their grown
			// stacks) across calls; calls beyond the pool get their own.
			grpc.NumStreamWorkers(streamWorkers),
			// Stop waits for handlers, so none starts engine work after
			// the engine has stopped.
			grpc.WaitForHandlers(true),
		})...),
	}
	verdictv1.RegisterCoordinatorServer(s.grpc, &service{c: c, fwd: s.fwd})
	verdictv1.RegisterAdminServer(s.grpc, &admin{node: node, coord: c, fwd: s.fwd})
	node.Register(s.grpc)
	healthpb.RegisterHealthServer(s.grpc, s.health.grpc)
	s.metrics.watch(node, c, s.health.isReady)

	hosts := newHostLimitListener(lis, cfg.MaxConnectionsPerHost, log)
	s.metrics.watchConnections(hosts)
	s.goroutine(func() { _ = s.grpc.Serve(hosts) })
	s.goroutine(s.watchReadiness)
	if mlis != nil {
		s.http = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.goroutine(func() { _ = s.http.Serve(mlis) })
	}
	s.goroutine(c.prop.run)
	s.goroutine(c.watchLeadership)
	s.goroutine(c.sweep)
	s.goroutine(c.delivery.flushDone)
	s.goroutine(c.releaseIdleParticipants)
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
func (s *Server) EventsDropped() uint64 { return s.coord.eventsDropped() }

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
func (s *Server) HeuristicCount() uint64 { return s.coord.heuristics.Load() }

// Node is the node's Raft member (tests use it to inject faults).
func (s *Server) Node() *txlog.Node { return s.node }

// Stop stops serving and waits for every goroutine of the node.
func (s *Server) Stop() {
	s.once.Do(func() {
		// Cancel engine work first: handlers waiting on a decision return,
		// then Stop (which waits for handlers) completes.
		s.coord.cancel()
		s.health.grpc.Shutdown() // NOT_SERVING, for whoever asks until the end
		if s.http != nil {
			s.http.Close()
		}
		s.grpc.Stop()
		close(s.coord.stop)
		s.coord.delivery.close()
		close(s.coord.prop.stop)
		s.node.Stop()
		s.coord.wg.Wait()
		s.wg.Wait()
		s.coord.parts.close()
		s.fwd.conns.close()
		s.coord.nats.close()
	})
}

func sortByID(txs []*verdictv1.Transaction) {
	sort.Slice(txs, func(i, j int) bool { return txs[i].GetTxid() < txs[j].GetTxid() })
}
