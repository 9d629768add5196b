package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/bearer"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// DefaultStateCheckInterval is how often the leader compares the members'
// states by default.
const DefaultStateCheckInterval = 5 * time.Minute

// stateCheckWait bounds how long one check waits for the members to apply
// its checkpoint.
const stateCheckWait = 30 * time.Second

// checkStates runs the leader's own state checks, every interval and
// whenever a checkpoint is asked for (Admin.CheckState: an operator's
// verdictctl cluster check, or a member that has just started), until the
// server stops: it appends a
// checkpoint, gathers every member's hash there (its own included) and
// compares them. A member whose hash differs from the majority's is logged
// at error level and counted (verdict_state_mismatches_total).
func (s *Server) checkStates(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.checkNow:
		}
		if _, ok := s.coord.LeaderTerm(); !ok {
			continue
		}
		s.checkStatesOnce()
	}
}

// checkStatesOnce runs one check as the leader; it reports the members
// that differ (their ids), for tests.
func (s *Server) checkStatesOnce() []uint64 {
	ctx, cancel := context.WithTimeout(s.ctx, stateCheckWait)
	defer cancel()
	index, err := s.coord.Checkpoint(ctx)
	if err != nil {
		s.log.Warn("state check: cannot append a checkpoint", "err", err)
		return nil
	}
	// Every member at once: one that is down must not use up the others'
	// time.
	members := s.node.Status().Members
	answers := make([][]byte, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { answers[i] = s.memberHash(ctx, m.ID, m.Address, index) })
	}
	wg.Wait()
	hashes := map[uint64][]byte{}
	for i, m := range members {
		if answers[i] != nil {
			hashes[m.ID] = answers[i]
		}
	}
	count := map[string]int{}
	for _, h := range hashes {
		count[string(h)]++
	}
	var major string
	for h, n := range count {
		if n > count[major] || (n == count[major] && h < major) {
			major = h
		}
	}
	// A member is marked only against a strict majority of the members
	// that answered: with a tie, no side can be called the wrong one.
	sure := 2*count[major] > len(hashes)
	var differ []uint64
	for id, h := range hashes {
		if bytes.Equal(h, []byte(major)) {
			continue
		}
		differ = append(differ, id)
		if _, marked := s.coord.Diverged()[id]; marked {
			s.log.Warn("state check: a member marked diverged still differs", "member", id, "index", index)
			continue
		}
		// Found now: said once, at error level, counted, announced, and
		// marked when a strict majority agrees.
		s.metrics.mismatches.Inc()
		s.log.Error("state check: a member's state differs from the others' at a checkpoint",
			"member", id, "index", index, "sha256", hex.EncodeToString(h), "others", hex.EncodeToString([]byte(major)), "marked", sure)
		if !sure {
			continue
		}
		if err := s.coord.MarkDiverged(ctx, id, index); err != nil {
			s.log.Warn("state check: cannot mark the member diverged", "member", id, "err", err)
			continue
		}
		if s.nats != nil {
			s.nats.Emit(engine.Event{Kind: engine.EventStateMismatch, Time: time.Now(),
				Reason: fmt.Sprintf("member %d's state differs from the others' at checkpoint %d: it follows but does not lead until an operator clears it (verdictctl cluster clear-divergence %d)", id, index, id)})
		}
	}
	if len(differ) == 0 {
		s.log.Debug("state check: every member agrees", "index", index, "members", len(hashes))
	}
	return differ
}

// memberHash asks member id (this node itself in process) for its state
// hash at index, until it has applied it or ctx ends; nil if it never
// answers.
func (s *Server) memberHash(ctx context.Context, id uint64, addr string, index uint64) []byte {
	ask := func(ctx context.Context) (*verdictv1.StateHashesResponse, error) {
		return s.admin.StateHashes(ctx, &verdictv1.StateHashesRequest{})
	}
	if id != s.node.ID() {
		conn, err := grpc.NewClient(addr, s.cfg.DialOptions...)
		if err != nil {
			return nil
		}
		defer conn.Close()
		ask = func(ctx context.Context) (*verdictv1.StateHashesResponse, error) {
			return verdictv1.NewAdminClient(conn).StateHashes(ctx, &verdictv1.StateHashesRequest{})
		}
	}
	for {
		if resp, err := ask(ctx); err == nil {
			if resp.GetId() != id {
				// Another server at the member's address (a reused
				// address): its state is not the member's.
				s.log.Warn("state check: another node answers at a member's address", "member", id, "address", addr, "answered", resp.GetId())
				return nil
			}
			for _, h := range resp.GetHashes() {
				if h.GetIndex() == index {
					return h.GetSha256()
				}
			}
			if resp.GetAppliedIndex() >= index {
				return nil // restored a snapshot past it: nothing to compare
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refuseLeadership hands leadership away while this node is marked
// diverged, or leads a term it retired when it was (engine.Retired): its
// engine answers nothing as leader, and the cluster needs one that does.
// Checked every second.
func (s *Server) refuseLeadership() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	said := "" // what was said of being stranded (no voter can take leadership)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if _, leads := s.node.LeaderTerm(); !leads {
			said = ""
			continue
		}
		_, marked := s.coord.Diverged()[s.node.ID()]
		if !marked && !s.coord.Retired() {
			said = ""
			continue
		}
		to := s.healthiestVoter()
		if to == 0 {
			msg := "this node leads a term it retired when it was marked diverged, and no other voter can take leadership: restart it to serve again"
			if marked {
				msg = "this node is marked diverged but no other voter can take leadership: the cluster serves no transactions until an operator clears a mark (verdictctl cluster clear-divergence)"
			}
			if said != msg { // said once, and again when it changes
				s.log.Error(msg)
				said = msg
			}
			continue
		}
		said = ""
		s.log.Error("this node is marked diverged, or leads a term it retired: handing leadership away", "to", to, "marked", marked)
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		if err := s.node.TransferLeadership(ctx, to); err != nil {
			s.log.Warn("cannot hand leadership away", "to", to, "err", err)
		}
		cancel()
	}
}

// healthiestVoter is the voter, other than this node and not marked
// diverged, with the highest match index; 0 for none.
func (s *Server) healthiestVoter() uint64 {
	diverged := s.coord.Diverged()
	var best uint64
	var bestMatch uint64
	for _, m := range s.node.Status().Members {
		if m.ID == s.node.ID() || m.Learner {
			continue
		}
		if _, bad := diverged[m.ID]; bad {
			continue
		}
		if best == 0 || m.Match > bestMatch {
			best, bestMatch = m.ID, m.Match
		}
	}
	return best
}

// requestStateCheck asks checkStates for a comparison at once; it does not
// block (one pending request is enough).
func (s *Server) requestStateCheck() {
	select {
	case s.checkNow <- struct{}{}:
	default:
	}
}

// checkAfterStart asks, once this node is ready after its start, for a
// state check: a node that restarted is compared with the others at once
// (the leader runs it; a follower's request is forwarded there).
func (s *Server) checkAfterStart() {
	for !s.health.isReady() {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, stateCheckWait)
	defer cancel()
	if s.cfg.AdminToken != "" {
		// In plaintext a forwarded action carries the admin token.
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(bearer.Header, bearer.Value(s.cfg.AdminToken)))
	}
	if _, err := s.admin.CheckState(ctx, &verdictv1.CheckStateRequest{}); err != nil {
		s.log.Debug("state check after start not run", "err", err)
	}
}
