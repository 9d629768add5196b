package participant

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/tracing"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Server is the participant side of Verdict for one Resource: the
// Participant gRPC service the coordinator calls (Register), the
// interceptors that enlist this participant in the transaction of incoming
// calls (UnaryServerInterceptor, StreamServerInterceptor), and the two loops
// Start runs: recovery of prepared transactions (Recover) and the deadline
// sweep of unprepared work.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	conns *connCache

	// txs holds the state of every transaction known here (txState): its
	// work, for the deadline sweep; its enlistment, so that this
	// participant enlists once per transaction; its fence once aborted.
	txs *txTable
	// gate serialises the Commit handler with recovery's questions; it
	// reads the fence from txs.
	gate *commitGate
	// onOutcome, if set before Start, sees each outcome Recover learns
	// (tests).
	onOutcome func(id string, o verdictv1.Outcome)
	// onListed, if set before Start, runs once Recover has listed the
	// prepared transactions (tests).
	onListed func(ids []string)

	mu       sync.Mutex
	inflight map[string]*enlistCall // enlistments in progress, by txid

	ctx       context.Context // canceled by Stop
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
}

// NewServer validates cfg and returns a Server. It starts nothing: call
// Register, install the interceptors, and Start the loops.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("participant", cfg.Name),
		now:      time.Now,
		txs:      newTxTable(),
		inflight: make(map[string]*enlistCall),
		ctx:      ctx,
		cancel:   cancel,
	}
	s.gate = newCommitGate(s.isFenced)
	s.conns = newConnCache(append(slices.Clone(coordconn.Plaintext(cfg.DialOptions)), tracing.DialOptions(cfg.TracerProvider)...), s.newEnlister)
	return s, nil
}

// Register registers the Participant service on g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	verdictv1.RegisterParticipantServer(g, &service{s: s})
}

// Start starts the Server's two loops, until Stop: the recovery loop, a
// Recover pass at once and then one every Config.RecoveryInterval; and the
// deadline sweep, every Config.SweepInterval, which aborts the work of
// transactions past their deadline (plus Config.DeadlineSlack) that this
// participant has not voted YES on. Their errors are logged. Calling Start
// again does nothing.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		if s.ctx.Err() != nil {
			return
		}
		s.wg.Add(2)
		go s.recoveryLoop()
		go s.sweepLoop()
	})
}

// Stop stops the loops, waits for them, and closes the connections to the
// coordinators. Calls to the interceptors that need to enlist fail after
// Stop.
func (s *Server) Stop() {
	s.cancel()
	s.wg.Wait()
	s.conns.close()
}

func (s *Server) recoveryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RecoveryInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, max(s.cfg.RecoveryInterval, 10*time.Second))
		if err := s.Recover(ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("verdict: recovery pass failed", "err", err)
		}
		cancel()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fence refuses later work, Prepare and Commit for id, which is aborted
// here.
func (s *Server) fence(id string) { s.txs.fence(id, s.now()) }

// committed forgets id, committed here.
func (s *Server) committed(id string) { s.txs.committed(id) }

func (s *Server) isFenced(id string) bool { return s.txs.isFenced(id, s.now()) }
