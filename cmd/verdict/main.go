// Command verdict runs one Verdict coordinator node.
//
// With no flags it runs a single-node cluster with its data in
// ./verdict-data, serving clients, participants and peers on
// 127.0.0.1:7400. A cluster member names every member with --peers and its
// own id with --id; it serves on its own address from --peers.
//
//	verdict --id 1 --peers 1=127.0.0.1:7401,2=127.0.0.1:7402,3=127.0.0.1:7403 --data-dir /var/lib/verdict/1
//
// To grow a running cluster, add the new member first, then start it with
// --join, an empty data dir and --peers naming the existing members and
// itself: it takes no part in bootstrapping and waits for the leader to send
// it the log. It joins as a learner and becomes a voter once caught up.
//
//	verdictctl cluster add 4=127.0.0.1:7404 --endpoints 127.0.0.1:7401
//	verdict --id 4 --join --peers 1=127.0.0.1:7401,2=127.0.0.1:7402,3=127.0.0.1:7403,4=127.0.0.1:7404 --data-dir /var/lib/verdict/4
//
// Ids are never reused: a removed member's id cannot join again.
//
// With --nats-url the node publishes lifecycle events (committed, aborted,
// stuck, heuristic) on verdict.events.<kind>, and, as leader, the messages staged in
// committed transactions to JetStream (at most --max-staged-bytes per
// transaction). Without it both are off, and staging messages is refused.
//
// With --metrics-addr (host:port) the node serves Prometheus metrics on
// /metrics, and liveness and readiness probes on /healthz and /readyz; its
// gRPC address always answers the standard gRPC health service.
//
// Security: with --tls-cert, --tls-key and --tls-ca the node serves mutual
// TLS on its one listener (clients, participants, operators and peers must
// all present a certificate signed by the CA) and dials its peers and
// participants with its certificate; a renewed certificate written over the
// files is taken at the next handshake. A node's certificate carries the OU
// "verdict-node" and names its --id as a URI subject alternative name
// verdict-node://<id>; peers take its Raft messages only as that id. Without them it serves plaintext, which
// it allows only on a loopback address unless --insecure-plaintext is given.
// Operator actions (every Admin RPC but Status and Members) need the token
// in --admin-token-file or a client certificate whose OU contains
// "verdict-admin"; with neither a token nor TLS they are open. In plaintext
// the node takes Raft messages only from its members' IP addresses, and
// relies on network isolation: the admin token alone does not protect a
// plaintext cluster (the node logs a warning when given one without TLS).
//
// SIGTERM or SIGINT shuts the node down cleanly; a restart from the same data
// dir rejoins the cluster (with or without --join). A failed write or fsync
// of the write-ahead log is fatal: the node stops leading at once and the
// process exits with status 1, for a supervisor to restart it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

func main() {
	// GOGC follows the live heap (see tuneGC); GOGC, if set, wins.
	if os.Getenv("GOGC") == "" {
		go tuneGC(nil) // for the life of the process
	}
	if code := exitCode(run(os.Args[1:], nil)); code != 0 {
		os.Exit(code)
	}
}

// exitCode reports err, the reason run returned, and returns the process's
// exit status: 0 after a clean shutdown (or -h), 1 after an error. A node
// whose Raft loop stopped on a fatal storage error exits 1, so that a
// supervisor restarts it from what is durable.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0 // -h: the usage is printed
	}
	fmt.Fprintln(os.Stderr, "verdict:", err)
	return 1
}

// options are verdict's command line: the node's Config (less what is read
// from files) and what run reads to complete it.
type options struct {
	cfg       coordinator.Config
	peers     string
	tls       tlsconf.Files
	tokenFile string
	logLevel  string
}

// parseFlags reads the command line. A flag left out takes coordinator's
// default (coordinator.DefaultConfig).
func parseFlags(args []string) (*options, error) {
	var o options
	c := &o.cfg
	fs := flag.NewFlagSet("verdict", flag.ContinueOnError)
	fs.Uint64Var(&c.ID, "id", 1, "this node's id (non-zero, never reused)")
	fs.StringVar(&o.peers, "peers", "1=127.0.0.1:7400", "every member as id=host:port, comma-separated")
	fs.StringVar(&c.DataDir, "data-dir", "./verdict-data", "directory for the write-ahead log and snapshots")
	fs.BoolVar(&c.Join, "join", false, "join a running cluster as a new member (added first with verdictctl cluster add) instead of bootstrapping one from --peers")
	fs.DurationVar(&c.DefaultTimeout, "default-timeout", coordinator.DefaultTimeout, "transaction lifetime when Begin names none")
	fs.DurationVar(&c.MaxRetryBackoff, "max-retry-backoff", coordinator.DefaultMaxRetryBackoff, "cap on the backoff between phase-2 delivery attempts")
	fs.DurationVar(&c.StuckAfter, "stuck-after", coordinator.DefaultStuckAfter, "mark a transaction stuck once phase 2 has failed to reach a participant this long")
	fs.DurationVar(&c.TickInterval, "tick", coordinator.DefaultTickInterval, "raft tick: the heartbeat interval; followers elect a new leader after --election-ticks to twice that many ticks without one")
	fs.IntVar(&c.ElectionTicks, "election-ticks", coordinator.DefaultElectionTicks, "raft election timeout, in ticks")
	fs.DurationVar(&c.Retention, "retention", coordinator.DefaultRetention, "how long a transaction stays answerable after phase 2 completed")
	fs.StringVar(&c.NatsURL, "nats-url", "", "NATS server URL(s), comma-separated: publish lifecycle events on verdict.events.<kind> and the staged messages of committed transactions to JetStream (empty: both off)")
	fs.IntVar(&c.MaxStagedBytes, "max-staged-bytes", coordinator.DefaultMaxStagedBytes, "largest total size of the messages staged in one transaction (they travel in its COMMIT record)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics (Prometheus), /healthz and /readyz over HTTP on this host:port (empty: off)")
	fs.BoolVar(&c.Profiling, "pprof", false, "also serve Go's profiles (/debug/pprof/) on --metrics-addr; they show the node's internals to whoever reaches it")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", coordinator.DefaultMaxRequestBytes, "largest request a caller may send, answer a node sends, and message between nodes; at least 4 times --max-staged-bytes")
	fs.IntVar(&c.MaxParticipants, "max-participants", coordinator.DefaultMaxParticipants, "most participants one transaction may have")
	fs.DurationVar(&c.ParticipantIdleTimeout, "participant-idle-timeout", coordinator.DefaultParticipantIdleTimeout, "release the connection, prepare batcher and phase-2 sender of a participant address unused this long")
	fs.IntVar(&c.MaxParticipantAddresses, "max-participant-addresses", coordinator.DefaultMaxParticipantAddresses, "most distinct participant addresses held at once; Enlist or Commit naming one more answers ResourceExhausted")
	fs.IntVar(&c.MaxOpenPerClient, "max-open-per-client", coordinator.DefaultMaxOpenPerClient, "most open (begun, undecided) transactions of one client, named by its certificate's CN under TLS or its IP address")
	fs.IntVar(&c.MaxConnectionsPerHost, "max-connections-per-host", coordinator.DefaultMaxConnectionsPerHost, "most connections served at once from one IP address (callers, participants and peers alike); one more is closed as soon as accepted")
	fs.IntVar(&c.MaxConcurrentStreams, "max-concurrent-streams", coordinator.DefaultMaxConcurrentStreams, "most calls in progress on one connection (a call lasts until its caller has read the answer); more wait")
	fs.IntVar(&c.MaxListBytes, "max-list-bytes", coordinator.DefaultMaxListBytes, "largest ListTransactions answer, encoded: a page ends before it (and holds at least one transaction); at most --max-request-bytes")
	fs.StringVar(&o.tls.Cert, "tls-cert", "", "PEM certificate of this node: served to callers and presented to peers and participants")
	fs.StringVar(&o.tls.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.tls.CA, "tls-ca", "", "PEM CA certificate(s): every caller, peer and participant must present a certificate it signed")
	fs.BoolVar(&c.InsecurePlaintext, "insecure-plaintext", false, "serve without TLS on a non-loopback address (calls neither encrypted nor authenticated)")
	fs.StringVar(&o.tokenFile, "admin-token-file", "", "file holding the admin token that authorises operator actions (sent as authorization: Bearer TOKEN)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &o, nil
}

// run runs the node until a signal stops it (nil) or it fails. started, if
// set, is given the server once it has started (tests inject faults).
func run(args []string, started func(*coordinator.Server)) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := o.cfg
	if cfg.Peers, err = parsePeers(o.peers); err != nil {
		return err
	}
	if _, ok := cfg.Peers[cfg.ID]; !ok {
		return fmt.Errorf("--peers has no entry for --id %d", cfg.ID)
	}
	// Signals are caught from before the start: one that comes while the
	// node starts stops it cleanly once started.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	sec, err := security(o.tls, o.tokenFile, logger)
	if err != nil {
		return err
	}
	cfg.TLS, cfg.AdminToken, cfg.Logger = sec.tls, sec.token, logger
	srv, err := coordinator.Start(cfg)
	if err != nil {
		return err
	}
	logger.Info("verdict serving", "id", cfg.ID, "addr", srv.Addr(), "data_dir", cfg.DataDir, "metrics_addr", srv.MetricsAddr())
	if started != nil {
		started(srv)
	}
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		srv.Stop()
		return nil
	case <-srv.Done():
		// A fatal storage error (a failed WAL write or fsync): the node
		// has stopped leading; exit so that it restarts from its data dir.
		srv.Stop()
		return srv.Err()
	}
}

// parsePeers reads "1=host:port,2=host:port".
func parsePeers(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "=")
		if !ok || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not id=host:port", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("--peers: %q: id must be a positive integer", part)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--peers: id %d named twice", id)
		}
		out[id] = addr
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--peers is empty")
	}
	return out, nil
}
