package participant

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/tlsconf"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// service is the Participant gRPC service, called by the coordinator.
type service struct {
	verdictv1.UnimplementedParticipantServer
	s *Server
}

// authorizeCoordinator lets a call to the Participant service through only
// from a coordinator node. Over TLS the caller must present a certificate
// the server verified (else Unauthenticated) with the node role,
// tlsconf.NodeOU (else PermissionDenied): with one CA for every
// certificate of a deployment, an initiator's or another participant's
// certificate would otherwise let its holder abort a transaction here
// after the coordinator logged COMMIT. In plaintext nobody can be told
// apart and every call is served: a participant server that others can
// reach must serve mutual TLS.
func authorizeCoordinator(ctx context.Context, method string) error {
	if !tlsconf.OverTLS(ctx) {
		return nil
	}
	cert := tlsconf.PeerCert(ctx)
	if cert == nil {
		return status.Errorf(codes.Unauthenticated, "verdict: participant %s is for coordinator nodes: present a certificate with OU %q", method, tlsconf.NodeOU)
	}
	if !tlsconf.HasRole(cert, tlsconf.NodeOU) {
		return status.Errorf(codes.PermissionDenied, "verdict: participant %s is for coordinator nodes: certificate %q lacks OU %q", method, cert.Subject.CommonName, tlsconf.NodeOU)
	}
	return nil
}

// Prepare votes on each transaction of the batch; the resource's prepares run
// concurrently, at most Config.MaxConcurrentPrepares at once, so one slow
// transaction does not hold up the others' work.
func (p *service) Prepare(ctx context.Context, req *verdictv1.PrepareRequest) (*verdictv1.PrepareResponse, error) {
	if err := authorizeCoordinator(ctx, "Prepare"); err != nil {
		return nil, err
	}
	ids := req.GetTxids()
	if len(ids) == 0 {
		return nil, status.Error(codes.InvalidArgument, "verdict: prepare names no transaction")
	}
	for _, id := range ids {
		if err := txid.Validate(id); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	resp := &verdictv1.PrepareResponse{Votes: make([]*verdictv1.PrepareVote, len(ids))}
	parallel(len(ids), p.s.cfg.MaxConcurrentPrepares, func(i int) {
		resp.Votes[i] = p.prepareOne(ctx, ids[i])
	})
	return resp, nil
}

// prepareOne votes on one transaction. One aborted here, by the coordinator
// or by the deadline sweep, or with a call still in progress, votes NO;
// while the Resource prepares, the sweep leaves the transaction alone and
// no work is admitted for it.
func (p *service) prepareOne(ctx context.Context, id string) *verdictv1.PrepareVote {
	end, answer, why := p.s.txs.beginPrepare(id, p.s.now())
	switch {
	case end != nil:
	case answer == VoteReadOnly:
		return &verdictv1.PrepareVote{Vote: verdictv1.Vote_VOTE_READ_ONLY}
	case why == prepareAborted:
		return no("verdict: transaction aborted at participant " + p.s.cfg.Name)
	default:
		return no("verdict: participant " + p.s.cfg.Name + " " + why)
	}
	vote, reason := p.s.resourcePrepare(ctx, id)
	end(vote)
	if vote == VoteNo {
		return no(reason)
	}
	return &verdictv1.PrepareVote{Vote: vote.proto()}
}

// resourcePrepare asks the Resource to vote; anything but a valid YES or
// read-only vote is a NO, with its reason.
func (s *Server) resourcePrepare(ctx context.Context, id string) (Vote, string) {
	vote, err := s.cfg.Resource.Prepare(ctx, id)
	if err != nil {
		s.log.Info("verdict: prepare failed, voting no", "txid", id, "err", err)
		return VoteNo, err.Error()
	}
	switch vote {
	case VoteYes, VoteReadOnly:
		return vote, ""
	case VoteNo:
		return VoteNo, ""
	}
	return VoteNo, fmt.Sprintf("verdict: resource returned invalid vote %v", vote)
}

func no(reason string) *verdictv1.PrepareVote {
	return &verdictv1.PrepareVote{Vote: verdictv1.Vote_VOTE_NO, Reason: reason}
}

// maxDecideParallel bounds the outcomes of one Commit or Abort batch
// applied at once.
const maxDecideParallel = 64

// errCommitRefused is the error of a Commit refused without asking the
// Resource; it is answered FailedPrecondition.
var errCommitRefused = errors.New("commit refused")

// Commit commits each transaction of the batch, concurrently. Every one is
// attempted; the first error is returned, so that the coordinator retries
// the whole batch (Commit is idempotent).
//
// A transaction aborted here (fenced: by Abort or by recovery learning
// ABORTED) is refused with FailedPrecondition, and the Resource is not
// asked: one that answers a txid it no longer knows as committed would
// acknowledge a deposed leader's late one-phase Commit, and the initiator
// would hear COMMITTED for work rolled back. So is a transaction the
// recovery loop is resolving (commitGate): its question, asked as the
// holder of prepared work, must stay true until it is answered and
// applied. The coordinator's presumed abort for a prepared participant
// (OutcomeRequest.prepared) relies on both refusals.
func (p *service) Commit(ctx context.Context, req *verdictv1.DecisionRequest) (*verdictv1.DecisionResponse, error) {
	return p.decide(ctx, "Commit", req, func(id string) error {
		switch p.s.gate.begin(id) {
		case refusedAborted:
			// Aborted here, now told to commit: a deposed leader's late
			// one-phase Commit, or a heuristic mix. Never acknowledged.
			p.s.log.Error("verdict: commit refused: the transaction was aborted at this participant", "txid", id)
			return fmt.Errorf("aborted at participant %s: %w", p.s.cfg.Name, errCommitRefused)
		case refusedResolving:
			p.s.log.Info("verdict: commit refused while recovery asks the coordinator the outcome", "txid", id)
			return fmt.Errorf("participant %s's recovery loop is asking the coordinator its outcome; try again: %w", p.s.cfg.Name, errCommitRefused)
		}
		err := p.s.cfg.Resource.Commit(ctx, id)
		p.s.gate.end(id, err == nil)
		if err == nil {
			p.s.committed(id)
		}
		return err
	})
}

// Abort aborts each transaction of the batch and fences it: later work and
// Prepare for it are refused.
func (p *service) Abort(ctx context.Context, req *verdictv1.DecisionRequest) (*verdictv1.DecisionResponse, error) {
	return p.decide(ctx, "Abort", req, func(id string) error {
		p.s.fence(id)
		return p.s.cfg.Resource.Abort(ctx, id)
	})
}

func (p *service) decide(ctx context.Context, method string, req *verdictv1.DecisionRequest, apply func(id string) error) (*verdictv1.DecisionResponse, error) {
	if err := authorizeCoordinator(ctx, method); err != nil {
		return nil, err
	}
	for _, id := range req.GetTxids() {
		if err := txid.Validate(id); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	ids := req.GetTxids()
	errs := make([]error, len(ids))
	// Concurrently, as in Prepare: a database applies a batch's outcomes
	// in parallel, and one slow transaction does not hold up the others
	// (whose locks the next transactions wait for).
	parallel(len(ids), maxDecideParallel, func(i int) { errs[i] = apply(ids[i]) })
	var first error
	for i, err := range errs {
		if err != nil {
			p.s.log.Warn("verdict: phase 2 failed", "txid", ids[i], "err", err)
			if first == nil {
				first = fmt.Errorf("verdict: transaction %s: %w", ids[i], err)
			}
		}
	}
	if first != nil {
		return nil, toStatus(first)
	}
	return &verdictv1.DecisionResponse{}, nil
}

// toStatus makes a refused Commit FailedPrecondition, keeps the code of an
// error that carries a gRPC status or a context error, and makes any other
// Unavailable: the coordinator retries.
func toStatus(err error) error {
	if errors.Is(err, errCommitRefused) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Error(st.Code(), err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.Error(status.FromContextError(err).Code(), err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}
