package coordinator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/txlog"
)

// Defaults of the Config fields left zero; DefaultConfig holds them all.
const (
	DefaultTimeout                 = 30 * time.Second
	DefaultMaxTimeout              = 10 * time.Minute
	DefaultMaxParticipants         = 64
	DefaultMaxRequestBytes         = 4 << 20
	DefaultMaxConnectionsPerHost   = 256
	DefaultMaxConcurrentStreams    = 100
	DefaultMaxListBytes            = pooledAnswerMax
	DefaultMaxOpenPerClient        = 10000
	DefaultParticipantIdleTimeout  = 5 * time.Minute
	DefaultMaxParticipantAddresses = 4096
	DefaultMaxRetryBackoff         = 10 * time.Second
	DefaultStuckAfter              = time.Minute
	DefaultRetention               = 15 * time.Minute
	DefaultMaxStagedBytes          = 1 << 20
	DefaultEventQueue              = 4096
	DefaultTickInterval            = txlog.DefaultTickInterval
	DefaultElectionTicks           = txlog.DefaultElectionTicks
	DefaultSnapshotEntries         = txlog.DefaultSnapshotEntries
	DefaultCompactionLag           = txlog.DefaultCompactionLag
)

// ErrInvalidConfig is wrapped by the errors of Start for a bad Config.
var ErrInvalidConfig = errors.New("verdict: invalid configuration")

// DefaultConfig is the Config whose tunable fields (durations, counts and
// sizes) hold their defaults, the values that zero stands for; ID, Peers,
// DataDir and the other fields that have no default are left zero.
func DefaultConfig() Config {
	return Config{
		DefaultTimeout:          DefaultTimeout,
		MaxTimeout:              DefaultMaxTimeout,
		MaxParticipants:         DefaultMaxParticipants,
		MaxRequestBytes:         DefaultMaxRequestBytes,
		MaxConnectionsPerHost:   DefaultMaxConnectionsPerHost,
		MaxConcurrentStreams:    DefaultMaxConcurrentStreams,
		MaxListBytes:            DefaultMaxListBytes,
		MaxOpenPerClient:        DefaultMaxOpenPerClient,
		ParticipantIdleTimeout:  DefaultParticipantIdleTimeout,
		MaxParticipantAddresses: DefaultMaxParticipantAddresses,
		MaxRetryBackoff:         DefaultMaxRetryBackoff,
		StuckAfter:              DefaultStuckAfter,
		Retention:               DefaultRetention,
		MaxStagedBytes:          DefaultMaxStagedBytes,
		EventQueue:              DefaultEventQueue,
		TickInterval:            DefaultTickInterval,
		ElectionTicks:           DefaultElectionTicks,
		SnapshotEntries:         DefaultSnapshotEntries,
		CompactionLag:           DefaultCompactionLag,
		StateCheckInterval:      DefaultStateCheckInterval,
	}
}

// Config configures one coordinator node. Each node serves clients,
// participants and peers on one address: its entry in Peers. A duration,
// count or size left zero takes its default (DefaultConfig); a negative
// one is refused with ErrInvalidConfig.
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
	// ListenAddr, if set and Listener is not, is the host:port to listen
	// on instead of Peers[ID], which stays the address the other members
	// and the clients are told: in a container or a Kubernetes pod the
	// node listens on 0.0.0.0:7400 while its Peers entry is its DNS name.
	// A host alone (0.0.0.0) takes the port of Peers[ID].
	ListenAddr string
	// DefaultTimeout is a transaction's lifetime when Begin names none;
	// at most MaxTimeout. Default DefaultTimeout, 30s.
	DefaultTimeout time.Duration
	// MaxTimeout is the longest lifetime Begin accepts. Default
	// DefaultMaxTimeout, 10m.
	MaxTimeout time.Duration
	// MaxParticipants per transaction. Default DefaultMaxParticipants, 64.
	MaxParticipants int
	// MaxRequestBytes is the largest request a client may send, and the
	// largest answer the node sends. Default DefaultMaxRequestBytes, 4 MiB.
	MaxRequestBytes int
	// MaxConnectionsPerHost bounds the connections the node serves at
	// once from one IP address: clients', participants', operators' and
	// peers' alike (an IPv4-mapped IPv6 address counts as its IPv4 form;
	// connections from an address without an IP, a Unix socket's, count
	// as one host). A connection beyond it is closed as soon as it is
	// accepted, and its client retries; connections from other hosts are
	// served meanwhile. There is no bound across hosts: one would let
	// callers take the places of the peers' Raft connections. Default
	// DefaultMaxConnectionsPerHost, 256.
	MaxConnectionsPerHost int
	// MaxConcurrentStreams bounds the calls in progress on one connection
	// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a call stays in progress
	// until its caller has read the answer. A gRPC client's further calls
	// wait until one ends. Default DefaultMaxConcurrentStreams, 100.
	MaxConcurrentStreams int
	// MaxListBytes bounds the encoded size of a ListTransactions answer:
	// a page ends before the transaction that would exceed it (its
	// next_after_txid goes on from there), and holds at least one
	// transaction. At most MaxRequestBytes. Default DefaultMaxListBytes,
	// 32 KiB (or MaxRequestBytes if less): a page then fits in one of
	// gRPC's pooled buffers, and in a gRPC client's initial 64 KiB HTTP/2
	// stream window.
	MaxListBytes int
	// MaxOpenPerClient bounds the open transactions (begun, not yet
	// decided) of one client at the leader: Begin beyond it answers
	// ResourceExhausted. A client is named by its certificate's Common Name
	// under TLS, by its IP address otherwise. Default
	// DefaultMaxOpenPerClient, 10000.
	MaxOpenPerClient int
	// ParticipantIdleTimeout is how long a participant address may go
	// unused before its connection, prepare batcher and phase-2 sender are
	// released (an address that a transaction still names, or with
	// deliveries queued, is never idle). Default
	// DefaultParticipantIdleTimeout, 5m.
	ParticipantIdleTimeout time.Duration
	// MaxParticipantAddresses bounds the distinct participant addresses
	// the leader holds at once (each costs a connection, a prepare
	// batcher and a phase-2 sender): Enlist or Commit naming one more
	// answers ResourceExhausted until some go idle. Phase 2 of decisions
	// already logged is delivered even beyond it. Default
	// DefaultMaxParticipantAddresses, 4096.
	MaxParticipantAddresses int
	// MaxRetryBackoff caps the backoff between phase-2 delivery attempts.
	// Default DefaultMaxRetryBackoff, 10s.
	MaxRetryBackoff time.Duration
	// StuckAfter is how long phase 2 may keep failing to reach a participant
	// before the transaction is marked stuck. Default DefaultStuckAfter,
	// 60s.
	StuckAfter time.Duration
	// Retention is how long a transaction stays answerable after its phase 2
	// completed (DONE); an older txid answers OUTCOME_EXPIRED. Default
	// DefaultRetention, 15m.
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
	// DefaultMaxStagedBytes, 1 MiB (or a quarter of MaxRequestBytes if
	// less).
	MaxStagedBytes int
	// EventQueue bounds the lifecycle events waiting to be published; a
	// full queue drops events (counted). Default DefaultEventQueue, 4096.
	EventQueue int
	// ConsoleAddr, if set (host:port; port 0 picks one, see
	// Server.ConsoleAddr), serves the operators' web console (package
	// console) over HTTP, or HTTPS with the node's TLS.
	ConsoleAddr string
	// ConsoleHosts are the host names browsers use to reach the console
	// (an IP address or localhost needs none); a request naming another
	// host is refused, so that no other site can rebind its name to the
	// console's address.
	ConsoleHosts []string
	// MetricsAddr, if set (host:port; port 0 picks one, see
	// Server.MetricsAddr), serves over HTTP /metrics (Prometheus, the
	// node's own registry: Server.Metrics), /healthz (live) and /readyz
	// (ready: see the health service). Empty: none of them; the registry
	// and the gRPC health service are there all the same.
	MetricsAddr string
	// Profiling adds Go's profiles (net/http/pprof: /debug/pprof/) to what
	// MetricsAddr serves. Off by default: a profile shows the node's
	// internals to whoever reaches that address.
	Profiling bool
	// Raft tuning (see txlog.Config): the tick interval (the heartbeat;
	// default DefaultTickInterval, 25ms), the election timeout in ticks
	// (default DefaultElectionTicks, 10), the applied entries that trigger
	// a snapshot (default DefaultSnapshotEntries, 10000) and the entries
	// kept behind one (default DefaultCompactionLag, 5000).
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
	// StateCheckInterval is how often the leader compares the members'
	// states at a checkpoint it appends (statecheck.go). Default
	// DefaultStateCheckInterval, 5m; the check is never off (a long
	// interval makes it rare).
	StateCheckInterval time.Duration
	// TracerProvider, if set, traces the node's calls with OpenTelemetry:
	// the calls it serves and makes (to participants, and a follower's
	// forwarding to the leader; not Raft's or health checks), each
	// decision, and each phase-2 delivery, linked to the decisions it
	// carries. Nil traces nothing.
	TracerProvider trace.TracerProvider
	// Clock drives deadlines. Default: the system clock.
	Clock Clock
	// Logger. Default slog.Default().
	Logger *slog.Logger

	// TestingKnobs inject faults in tests (of this and other packages);
	// nil in production.
	TestingKnobs *engine.TestingKnobs

	// knobs inject faults in the package's tests; nil otherwise. Start
	// uses TestingKnobs when this is nil.
	knobs *engine.TestingKnobs
}

// Clock tells the time and drives every timer of the engine (see
// engine.Clock); Timer and Ticker are its timers.
type (
	Clock  = engine.Clock
	Timer  = engine.Timer
	Ticker = engine.Ticker
)

// validate refuses a bad Config (every error wraps ErrInvalidConfig, the
// transport's also ErrPlaintextNotLoopback where it applies) and fills in
// the defaults of the fields left zero.
func (c *Config) validate() error {
	if c.ID == 0 {
		return fmt.Errorf("%w: ID must be non-zero", ErrInvalidConfig)
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("%w: Peers must include this node's id %d", ErrInvalidConfig, c.ID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	}
	// MaxRequestBytes first: the defaults of MaxStagedBytes and
	// MaxListBytes are bounded by it.
	if err := orDefault("MaxRequestBytes", &c.MaxRequestBytes, DefaultMaxRequestBytes); err != nil {
		return err
	}
	for _, err := range []error{
		orDefault("DefaultTimeout", &c.DefaultTimeout, DefaultTimeout),
		orDefault("MaxTimeout", &c.MaxTimeout, DefaultMaxTimeout),
		orDefault("MaxParticipants", &c.MaxParticipants, DefaultMaxParticipants),
		orDefault("MaxOpenPerClient", &c.MaxOpenPerClient, DefaultMaxOpenPerClient),
		orDefault("MaxStagedBytes", &c.MaxStagedBytes, min(DefaultMaxStagedBytes, c.MaxRequestBytes/4)),
		orDefault("MaxConnectionsPerHost", &c.MaxConnectionsPerHost, DefaultMaxConnectionsPerHost),
		orDefault("MaxConcurrentStreams", &c.MaxConcurrentStreams, DefaultMaxConcurrentStreams),
		orDefault("MaxListBytes", &c.MaxListBytes, min(DefaultMaxListBytes, c.MaxRequestBytes)),
		orDefault("ParticipantIdleTimeout", &c.ParticipantIdleTimeout, DefaultParticipantIdleTimeout),
		orDefault("MaxParticipantAddresses", &c.MaxParticipantAddresses, DefaultMaxParticipantAddresses),
		orDefault("MaxRetryBackoff", &c.MaxRetryBackoff, DefaultMaxRetryBackoff),
		orDefault("StuckAfter", &c.StuckAfter, DefaultStuckAfter),
		orDefault("Retention", &c.Retention, DefaultRetention),
		orDefault("EventQueue", &c.EventQueue, DefaultEventQueue),
		orDefault("TickInterval", &c.TickInterval, DefaultTickInterval),
		orDefault("ElectionTicks", &c.ElectionTicks, DefaultElectionTicks),
		orDefault("SnapshotEntries", &c.SnapshotEntries, DefaultSnapshotEntries),
		orDefault("CompactionLag", &c.CompactionLag, DefaultCompactionLag),
		orDefault("StateCheckInterval", &c.StateCheckInterval, DefaultStateCheckInterval),
	} {
		if err != nil {
			return err
		}
	}
	switch {
	case c.DefaultTimeout > c.MaxTimeout:
		return fmt.Errorf("%w: DefaultTimeout %v exceeds MaxTimeout %v", ErrInvalidConfig, c.DefaultTimeout, c.MaxTimeout)
	case c.MaxStagedBytes > c.MaxRequestBytes/4:
		return fmt.Errorf("%w: MaxStagedBytes %d exceeds a quarter of MaxRequestBytes %d: a COMMIT record must fit in a message between nodes", ErrInvalidConfig, c.MaxStagedBytes, c.MaxRequestBytes)
	case uint64(c.MaxConcurrentStreams) > math.MaxUint32:
		return fmt.Errorf("%w: MaxConcurrentStreams %d exceeds %d", ErrInvalidConfig, c.MaxConcurrentStreams, uint32(math.MaxUint32))
	case c.MaxListBytes > c.MaxRequestBytes:
		return fmt.Errorf("%w: MaxListBytes %d exceeds MaxRequestBytes %d, the largest message a node sends", ErrInvalidConfig, c.MaxListBytes, c.MaxRequestBytes)
	}
	if err := c.validateTransport(); err != nil {
		return err
	}
	if len(c.DialOptions) == 0 {
		c.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if c.Clock == nil {
		c.Clock = engine.SystemClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// orDefault refuses a negative *v and sets a zero one to def.
func orDefault[T int | uint64 | time.Duration](name string, v *T, def T) error {
	switch {
	case *v < 0:
		return fmt.Errorf("%w: %s %v is negative", ErrInvalidConfig, name, *v)
	case *v == 0:
		*v = def
	}
	return nil
}
