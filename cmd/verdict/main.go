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
	"time"

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

// run runs the node until a signal stops it (nil) or it fails. started, if
// set, is given the server once it has started (tests inject faults).
func run(args []string, started func(*coordinator.Server)) error {
	fs := flag.NewFlagSet("verdict", flag.ContinueOnError)
	id := fs.Uint64("id", 1, "this node's id (non-zero, never reused)")
	peers := fs.String("peers", "1=127.0.0.1:7400", "every member as id=host:port, comma-separated")
	dataDir := fs.String("data-dir", "./verdict-data", "directory for the write-ahead log and snapshots")
	join := fs.Bool("join", false, "join a running cluster as a new member (added first with verdictctl cluster add) instead of bootstrapping one from --peers")
	timeout := fs.Duration("default-timeout", 30*time.Second, "transaction lifetime when Begin names none")
	maxBackoff := fs.Duration("max-retry-backoff", 10*time.Second, "cap on the backoff between phase-2 delivery attempts")
	stuckAfter := fs.Duration("stuck-after", time.Minute, "mark a transaction stuck once phase 2 has failed to reach a participant this long")
	tick := fs.Duration("tick", 25*time.Millisecond, "raft tick: the heartbeat interval; followers elect a new leader after --election-ticks to twice that many ticks without one")
	electionTicks := fs.Int("election-ticks", 10, "raft election timeout, in ticks")
	retention := fs.Duration("retention", 15*time.Minute, "how long a transaction stays answerable after phase 2 completed")
	natsURL := fs.String("nats-url", "", "NATS server URL(s), comma-separated: publish lifecycle events on verdict.events.<kind> and the staged messages of committed transactions to JetStream (empty: both off)")
	maxStaged := fs.Int("max-staged-bytes", 1<<20, "largest total size of the messages staged in one transaction (they travel in its COMMIT record)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics (Prometheus), /healthz and /readyz over HTTP on this host:port (empty: off)")
	maxRequest := fs.Int("max-request-bytes", 4<<20, "largest request a caller may send, answer a node sends, and message between nodes; at least 4 times --max-staged-bytes")
	maxParts := fs.Int("max-participants", 64, "most participants one transaction may have")
	idleTimeout := fs.Duration("participant-idle-timeout", 5*time.Minute, "release the connection, prepare batcher and phase-2 sender of a participant address unused this long")
	maxAddrs := fs.Int("max-participant-addresses", 4096, "most distinct participant addresses held at once; Enlist or Commit naming one more answers ResourceExhausted")
	maxOpen := fs.Int("max-open-per-client", 10000, "most open (begun, undecided) transactions of one client, named by its certificate's CN under TLS or its IP address")
	maxConnsPerHost := fs.Int("max-connections-per-host", 256, "most connections served at once from one IP address (callers, participants and peers alike); one more is closed as soon as accepted")
	maxStreams := fs.Int("max-concurrent-streams", 100, "most calls in progress on one connection (a call lasts until its caller has read the answer); more wait")
	maxList := fs.Int("max-list-bytes", 32<<10, "largest ListTransactions answer, encoded: a page ends before it (and holds at least one transaction); at most --max-request-bytes")
	var tlsFiles tlsconf.Files
	fs.StringVar(&tlsFiles.Cert, "tls-cert", "", "PEM certificate of this node: served to callers and presented to peers and participants")
	fs.StringVar(&tlsFiles.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&tlsFiles.CA, "tls-ca", "", "PEM CA certificate(s): every caller, peer and participant must present a certificate it signed")
	plaintext := fs.Bool("insecure-plaintext", false, "serve without TLS on a non-loopback address (calls neither encrypted nor authenticated)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin token that authorises operator actions (sent as authorization: Bearer TOKEN)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	pm, err := parsePeers(*peers)
	if err != nil {
		return err
	}
	if _, ok := pm[*id]; !ok {
		return fmt.Errorf("--peers has no entry for --id %d", *id)
	}
	// Signals are caught from before the start: one that comes while the
	// node starts stops it cleanly once started.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	sec, err := security(tlsFiles, *tokenFile, logger)
	if err != nil {
		return err
	}
	srv, err := coordinator.Start(coordinator.Config{
		ID:                      *id,
		Peers:                   pm,
		Join:                    *join,
		DataDir:                 *dataDir,
		DefaultTimeout:          *timeout,
		MaxRetryBackoff:         *maxBackoff,
		StuckAfter:              *stuckAfter,
		Retention:               *retention,
		NatsURL:                 *natsURL,
		MaxStagedBytes:          *maxStaged,
		MaxRequestBytes:         *maxRequest,
		MaxParticipants:         *maxParts,
		MaxOpenPerClient:        *maxOpen,
		ParticipantIdleTimeout:  *idleTimeout,
		MaxParticipantAddresses: *maxAddrs,
		MaxConnectionsPerHost:   *maxConnsPerHost,
		MaxConcurrentStreams:    *maxStreams,
		MaxListBytes:            *maxList,
		MetricsAddr:             *metricsAddr,
		TLS:                     sec.tls,
		InsecurePlaintext:       *plaintext,
		AdminToken:              sec.token,
		TickInterval:            *tick,
		ElectionTicks:           *electionTicks,
		Logger:                  logger,
	})
	if err != nil {
		return err
	}
	logger.Info("verdict serving", "id", *id, "addr", srv.Addr(), "data_dir", *dataDir, "metrics_addr", srv.MetricsAddr())
	if started != nil {
		started(srv)
	}
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		srv.Stop()
		return nil
	case <-srv.Node().Done():
		// A fatal storage error (a failed WAL write or fsync): the node
		// has stopped leading; exit so that it restarts from its data dir.
		srv.Stop()
		return fmt.Errorf("raft node stopped: %w", srv.Node().Err())
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
