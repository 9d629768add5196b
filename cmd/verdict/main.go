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
	"context"
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
	"github.com/verdict-tx/verdict/internal/buildinfo"
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
	logFormat string
	// idFromHostname: take the id from the host name's ordinal.
	idFromHostname bool
	// console is --console-addr: an address, auto or off.
	console string
	// version: print the version and exit.
	version bool
}

// parseFlags reads the command line, then the settings it left out from
// the environment and the config file (settings.go). A setting given
// nowhere takes coordinator's default (coordinator.DefaultConfig).
func parseFlags(args []string) (*options, error) {
	return parseSettings(args, os.LookupEnv, os.Hostname)
}

// parseSettings is parseFlags with the environment and the host name
// given.
func parseSettings(args []string, getenv func(string) (string, bool), hostname func() (string, error)) (*options, error) {
	var o options
	c := &o.cfg
	fs := defineFlags(&o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: verdict takes only flags (see verdict -h)", fs.Arg(0))
	}
	if o.version {
		return &o, nil
	}
	path := configPath(fs, getenv)
	onCLI := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCLI[f.Name] = true })
	if err := applySettings(fs, path, getenv); err != nil {
		return nil, err
	}
	if o.idFromHostname {
		// --id and --id-from-hostname: the one from the place that wins
		// (settings.go) is taken; both from the same place is an error.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		rank := func(name string) int {
			switch _, inEnv := getenv(envName(name)); {
			case !set[name]:
				return 0
			case onCLI[name]:
				return 3
			case inEnv:
				return 2
			}
			return 1 // the config file
		}
		switch id, fromHost := rank("id"), rank("id-from-hostname"); {
		case id == fromHost:
			return nil, errors.New("--id and --id-from-hostname both given (" + settingPlace(id, path) + "): give one")
		case id > fromHost:
			return &o, nil
		}
		host, err := hostname()
		if err != nil {
			return nil, fmt.Errorf("--id-from-hostname: %w", err)
		}
		if c.ID, err = idFromHostname(host); err != nil {
			return nil, err
		}
	}
	return &o, nil
}

// settingPlace names where a setting of rank (parseSettings) came from.
func settingPlace(rank int, path string) string {
	switch rank {
	case 3:
		return "on the command line"
	case 2:
		return "in the environment"
	}
	return "in " + path
}

// defineFlags defines verdict's flags on a new FlagSet, bound to o.
func defineFlags(o *options) *flag.FlagSet {
	c := &o.cfg
	fs := flag.NewFlagSet("verdict", flag.ContinueOnError)
	fs.Usage = func() { usage(fs) }
	fs.String("config", "", "YAML file of settings (flag names without the dashes: data-dir: /var/lib/verdict); flags win over VERDICT_* environment variables, which win over the file; also VERDICT_CONFIG")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Uint64Var(&c.ID, "id", 1, "this node's id (non-zero, never reused)")
	fs.BoolVar(&o.idFromHostname, "id-from-hostname", false, "take the id from the ordinal that ends the host name: a Kubernetes StatefulSet pod verdict-0 is node 1, verdict-2 node 3 (instead of --id)")
	fs.StringVar(&o.peers, "peers", "1=127.0.0.1:7400", "every member as id=host:port, comma-separated")
	fs.StringVar(&c.ListenAddr, "listen", "", "host:port, or a host alone (then the port of this node's --peers entry), to listen on (empty: this node's address in --peers); 0.0.0.0 in a container whose --peers entry is its DNS name")
	fs.StringVar(&c.DataDir, "data-dir", "./verdict-data", "directory for the write-ahead log and snapshots")
	fs.BoolVar(&c.Join, "join", false, "join a running cluster as a new member (added first with verdictctl cluster add) instead of bootstrapping one from --peers")
	fs.DurationVar(&c.DefaultTimeout, "default-timeout", coordinator.DefaultTimeout, "transaction lifetime when Begin names none")
	fs.DurationVar(&c.MaxRetryBackoff, "max-retry-backoff", coordinator.DefaultMaxRetryBackoff, "cap on the backoff between phase-2 delivery attempts")
	fs.DurationVar(&c.StuckAfter, "stuck-after", coordinator.DefaultStuckAfter, "mark a transaction stuck once phase 2 has failed to reach a participant this long")
	fs.DurationVar(&c.TickInterval, "tick", coordinator.DefaultTickInterval, "raft tick: the heartbeat interval; followers elect a new leader after --election-ticks to twice that many ticks without one")
	fs.IntVar(&c.ElectionTicks, "election-ticks", coordinator.DefaultElectionTicks, "raft election timeout, in ticks")
	fs.DurationVar(&c.StateCheckInterval, "state-check-interval", coordinator.DefaultStateCheckInterval, "how often the leader compares the members' states at a checkpoint (a member that differs is logged at error level and counted in verdict_state_mismatches_total); verdictctl cluster check does it at once")
	fs.DurationVar(&c.Retention, "retention", coordinator.DefaultRetention, "how long a transaction stays answerable after phase 2 completed")
	fs.StringVar(&c.NatsURL, "nats-url", "", "NATS server URL(s), comma-separated: publish lifecycle events on verdict.events.<kind> and the staged messages of committed transactions to JetStream (empty: both off)")
	fs.IntVar(&c.MaxStagedBytes, "max-staged-bytes", coordinator.DefaultMaxStagedBytes, "largest total size of the messages staged in one transaction (they travel in its COMMIT record)")
	fs.StringVar(&o.console, "console-addr", "auto", "serve the operators' web console on this host:port (HTTPS with --tls-*); auto: 127.0.0.1:7480 for a single-node cluster, off in a larger one; off: never")
	fs.Func("console-host", "a host name browsers use to reach the console, as they send it in the Host header (an IP address or localhost needs none); repeat or comma-separate for several", func(v string) error {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.ConsoleHosts = append(c.ConsoleHosts, h)
			}
		}
		return nil
	})
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
	fs.StringVar(&o.logFormat, "log-format", "text", "text (key=value) or json")
	return fs
}

// usage prints verdict's help: what it is, where settings come from, and
// every flag with its environment variable.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `verdict runs one node of a Verdict coordinator cluster.

  verdict                       a single node on 127.0.0.1:7400, data in ./verdict-data
  verdict --id 1 --peers 1=10.0.0.1:7400,2=10.0.0.2:7400,3=10.0.0.3:7400 --data-dir /var/lib/verdict

Every flag can also be set with its environment variable (VERDICT_ and the
flag's name, upper case, dashes as underscores) or in the --config file;
the command line wins over the environment, the environment over the file.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n      %s", help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if !cliOnly[f.Name] {
			fmt.Fprintf(w, " [%s]", envName(f.Name))
		}
		fmt.Fprintln(w)
	})
}

// run runs the node until a signal stops it (nil) or it fails. started, if
// set, is given the server once it has started (tests inject faults).
func run(args []string, started func(*coordinator.Server)) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Println(buildinfo.String("verdict"))
		return nil
	}
	logger, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	cfg := o.cfg
	if cfg.Peers, err = parsePeers(o.peers); err != nil {
		return err
	}
	if _, ok := cfg.Peers[cfg.ID]; !ok {
		return fmt.Errorf("--peers has no entry for --id %d", cfg.ID)
	}
	consoleAuto := o.console == "auto" && len(cfg.Peers) == 1
	cfg.ConsoleAddr = consoleAddr(o.console, len(cfg.Peers))
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
	tp, err := tracerProvider(context.Background(), os.Getenv, cfg.ID)
	if err != nil {
		return err
	}
	if tp != nil {
		cfg.TracerProvider = tp
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(ctx) // flushes the spans not yet exported
		}()
		logger.Info("OpenTelemetry tracing on: exporting over OTLP (OTEL_EXPORTER_OTLP_* settings)")
	}
	srv, err := coordinator.Start(cfg)
	if err != nil && consoleAuto && errors.Is(err, coordinator.ErrConsoleListen) {
		// The default console's port is taken (another node on this
		// host): run without it rather than not at all.
		logger.Warn("web console off: its default address is taken; give --console-addr", "addr", defaultConsoleAddr, "err", err)
		cfg.ConsoleAddr = ""
		srv, err = coordinator.Start(cfg)
	}
	if err != nil {
		return err
	}
	if a := srv.ConsoleAddr(); a != "" {
		logger.Info("web console: open it in a browser", "url", consoleURL(a, cfg.TLS != nil))
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

// defaultConsoleAddr is where a single-node cluster serves its console
// unless --console-addr says otherwise.
const defaultConsoleAddr = "127.0.0.1:7480"

// consoleAddr is the console's address for --console-addr flag in a
// cluster of members: auto is the default address for a single node and
// off otherwise.
func consoleAddr(flag string, members int) string {
	switch flag {
	case "off", "":
		return ""
	case "auto":
		if members == 1 {
			return defaultConsoleAddr
		}
		return ""
	}
	return flag
}

// consoleURL is the address of the console to open.
func consoleURL(addr string, tls bool) string {
	if tls {
		return "https://" + addr + "/"
	}
	return "http://" + addr + "/"
}

// newLogger is the node's logger on stderr, at level, as text or JSON.
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
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
