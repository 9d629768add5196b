// Command chaospart is the participant process of the chaos test: a
// participant.Server over a journal.Resource (every prepare, commit and abort
// fsynced to a journal file, replayed on restart) beside the Work service
// ("verdict.work.Work/Stage", the business call that makes it enlist).
//
//	chaospart --name p1 --addr 127.0.0.1:7501 --journal /tmp/p1.journal \
//	    --coordinators 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
//
// SIGTERM or SIGINT stops it cleanly; the chaos test usually SIGKILLs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/chaos/journal"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chaospart:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("chaospart", flag.ContinueOnError)
	name := fs.String("name", "p1", "participant name")
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on (host:port), as coordinators dial it")
	path := fs.String("journal", "", "journal file (required)")
	coords := fs.String("coordinators", "", "coordinator endpoints for recovery, comma-separated")
	recovery := fs.Duration("recovery-interval", time.Second, "period of the recovery loop")
	earlyVote := fs.Bool("early-vote", false, "vote with the enlistment (participant.Config.EarlyVote)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("--journal is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	res, err := journal.Open(*path)
	if err != nil {
		return err
	}
	defer res.Close()
	var endpoints []string
	for _, ep := range strings.Split(*coords, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			endpoints = append(endpoints, ep)
		}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	p, err := participant.NewServer(participant.Config{
		Name:             *name,
		Address:          l.Addr().String(),
		Resource:         res,
		Coordinators:     endpoints,
		RecoveryInterval: *recovery,
		EarlyVote:        *earlyVote,
		Logger:           logger,
	})
	if err != nil {
		l.Close()
		return err
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(p.UnaryServerInterceptor()))
	p.Register(g)
	// The journal records the transaction, not the data: the key is ignored.
	worksvc.RegisterFunc(g, func(_ context.Context, txid, _ string) error { return res.Stage(txid) })
	p.Start()
	logger.Info("chaospart serving", "name", *name, "addr", l.Addr().String(), "journal", *path)

	served := make(chan error, 1)
	go func() { served <- g.Serve(l) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		g.Stop()
		p.Stop()
		return nil
	case err := <-served:
		p.Stop()
		return err
	}
}
