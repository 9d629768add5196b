package coordinator

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// The Admin RPCs that change the cluster's membership. Each is validated
// here, then served by the leader (a follower forwards it), which checks it
// against the replicated membership: ids are never reused, the last voter is
// never removed.

func (a *admin) AddMember(ctx context.Context, req *verdictv1.AddMemberRequest) (*verdictv1.AddMemberResponse, error) {
	if err := validateMemberID(req.GetId()); err != nil {
		return nil, err
	}
	if len(req.GetAddress()) > maxAddressBytes {
		return nil, status.Errorf(codes.InvalidArgument, "verdict: member address longer than %d bytes", maxAddressBytes)
	}
	if err := txlog.CheckAddress(req.GetAddress()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "verdict: member %d: %v", req.GetId(), err)
	}
	return forwardCluster(ctx, a.fwd, req, a.addMember, verdictv1.AdminClient.AddMember)
}

func (a *admin) addMember(ctx context.Context, req *verdictv1.AddMemberRequest) (*verdictv1.AddMemberResponse, error) {
	if _, marked := a.coord.Diverged()[a.node.ID()]; marked {
		// A new member copies the leader's state (its snapshot): it
		// would start out as diverged as this one.
		return nil, status.Errorf(codes.FailedPrecondition, "verdict: this leader (member %d) is marked diverged: a new member would copy its state; hand leadership to a healthy member first, or clear a false alarm", a.node.ID())
	}
	for _, m := range a.node.Status().Members {
		if m.Address == req.GetAddress() && m.ID != req.GetId() {
			return nil, status.Errorf(codes.FailedPrecondition, "verdict: address %s is already member %d's", m.Address, m.ID)
		}
	}
	if err := a.node.AddLearner(ctx, req.GetId(), req.GetAddress()); err != nil {
		return nil, memberError(err)
	}
	return &verdictv1.AddMemberResponse{Members: members(a.node.Status().Members)}, nil
}

func (a *admin) RemoveMember(ctx context.Context, req *verdictv1.RemoveMemberRequest) (*verdictv1.RemoveMemberResponse, error) {
	if err := validateMemberID(req.GetId()); err != nil {
		return nil, err
	}
	return forwardCluster(ctx, a.fwd, req, a.removeMember, verdictv1.AdminClient.RemoveMember)
}

func (a *admin) removeMember(ctx context.Context, req *verdictv1.RemoveMemberRequest) (*verdictv1.RemoveMemberResponse, error) {
	if err := a.node.Remove(ctx, req.GetId()); err != nil {
		return nil, memberError(err)
	}
	return &verdictv1.RemoveMemberResponse{Members: members(a.node.Status().Members)}, nil
}

func (a *admin) TransferLeadership(ctx context.Context, req *verdictv1.TransferLeadershipRequest) (*verdictv1.TransferLeadershipResponse, error) {
	if err := validateMemberID(req.GetId()); err != nil {
		return nil, err
	}
	return forwardCluster(ctx, a.fwd, req, a.transferLeadership, verdictv1.AdminClient.TransferLeadership)
}

func (a *admin) transferLeadership(ctx context.Context, req *verdictv1.TransferLeadershipRequest) (*verdictv1.TransferLeadershipResponse, error) {
	if err := a.node.TransferLeadership(ctx, req.GetId()); err != nil {
		return nil, memberError(err)
	}
	return &verdictv1.TransferLeadershipResponse{Leader: req.GetId()}, nil
}

func validateMemberID(id uint64) error {
	if id == 0 {
		return status.Error(codes.InvalidArgument, "verdict: member id must be non-zero")
	}
	return nil
}

// memberError maps txlog's membership errors to gRPC statuses.
func memberError(err error) error {
	var code codes.Code
	switch {
	case errors.Is(err, txlog.ErrBadMember):
		code = codes.InvalidArgument
	case errors.Is(err, txlog.ErrNotMember):
		code = codes.NotFound
	case errors.Is(err, txlog.ErrMemberExists), errors.Is(err, txlog.ErrMemberRemoved),
		errors.Is(err, txlog.ErrLastVoter), errors.Is(err, txlog.ErrNotVoter):
		code = codes.FailedPrecondition
	case errors.Is(err, txlog.ErrNotLeader), errors.Is(err, txlog.ErrConfChangeDropped), errors.Is(err, txlog.ErrStopped):
		// Nothing changed: the caller may retry, at the leader.
		code = codes.Unavailable
	case errors.Is(err, txlog.ErrTransferFailed):
		code = codes.Aborted
	case errors.Is(err, txlog.ErrLeadershipLost):
		// Not Unavailable: a blind retry could find its own change done.
		return status.Errorf(codes.Unknown, "verdict: %v: the change may or may not have taken effect; check the cluster status", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.Errorf(status.FromContextError(err).Code(), "verdict: %v: the change may or may not have taken effect; check the cluster status", err)
	default:
		code = codes.Internal
	}
	return status.Error(code, "verdict: "+strings.TrimPrefix(err.Error(), "txlog: "))
}
