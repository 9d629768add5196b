package participant

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

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

	// fenced holds transactions aborted here: later work and Prepare for
	// them are refused.
	fenced *txSet
	// enlisted holds transactions this participant enlisted in, with
	// their deadline, so that it enlists only once per transaction.
	enlisted *txSet
	// work tracks the transactions this participant did work in, for the
	// deadline sweep.
	work *workTable
	// gate serialises the Commit handler with recovery's questions.
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
		fenced:   newTxSet(),
		enlisted: newTxSet(),
		inflight: make(map[string]*enlistCall),
		ctx:      ctx,
		cancel:   cancel,
	}
	s.work = newWorkTable(s.isFenced)
	s.gate = newCommitGate(s.isFenced)
	s.conns = newConnCache(cfg.DialOptions, s.newEnlister)
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

// fence refuses later work and Prepare for id, which is aborted here.
func (s *Server) fence(id string) {
	s.fenceOnly(id)
	s.work.forget(id)
}

// fenceOnly is fence for the sweep, which forgets id only once its work is
// aborted.
func (s *Server) fenceOnly(id string) {
	now := s.now()
	deadline, ok := s.work.deadline(id)
	if exp, found := s.enlisted.get(id, now); !ok && found {
		deadline = exp.Add(-rememberSlack)
	}
	s.fenced.add(id, expiry(id, deadline, now), now)
	s.enlisted.remove(id)
}

// committed forgets id, committed here.
func (s *Server) committed(id string) {
	s.enlisted.remove(id)
	s.work.forget(id)
}

func (s *Server) isFenced(id string) bool {
	_, ok := s.fenced.get(id, s.now())
	return ok
}
