package coordinator

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// CheckState appends a checkpoint at the leader (an operator's action:
// it writes to the log) and answers its index.
func (a *admin) CheckState(ctx context.Context, req *verdictv1.CheckStateRequest) (*verdictv1.CheckStateResponse, error) {
	return forwardAdmin(ctx, a.fwd, req, func(ctx context.Context, _ *verdictv1.CheckStateRequest) (*verdictv1.CheckStateResponse, error) {
		index, err := a.coord.Checkpoint(ctx)
		if err != nil {
			return nil, err
		}
		if a.checkNow != nil {
			a.checkNow() // the leader compares (and marks) on its own too
		}
		return &verdictv1.CheckStateResponse{Index: index}, nil
	}, verdictv1.AdminClient.CheckState)
}

// StateHashes answers this node's own hashes: it is never forwarded.
func (a *admin) StateHashes(ctx context.Context, req *verdictv1.StateHashesRequest) (*verdictv1.StateHashesResponse, error) {
	resp := &verdictv1.StateHashesResponse{Id: a.node.ID(), AppliedIndex: a.node.Status().Applied}
	for _, h := range a.coord.StateHashes() {
		resp.Hashes = append(resp.Hashes, &verdictv1.StateHash{Index: h.Index, Sha256: h.SHA256[:]})
	}
	if req.GetCurrent() {
		// As costly as a snapshot, and it holds up applying: an
		// operator's, not anyone's.
		if err := a.fwd.auth.adminOnly(ctx, adminService+"StateHashes (current)"); err != nil {
			return nil, err
		}
		h, err := a.coord.CurrentStateHash()
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Current = &verdictv1.StateHash{Index: h.Index, Sha256: h.SHA256[:]}
	}
	return resp, nil
}

// ClearDivergence clears a member's diverged mark for an operator; the
// leader serves it.
func (a *admin) ClearDivergence(ctx context.Context, req *verdictv1.ClearDivergenceRequest) (*verdictv1.ClearDivergenceResponse, error) {
	if req.GetId() == 0 {
		return nil, status.Error(codes.InvalidArgument, "verdict: name the member to clear")
	}
	who, err := a.fwd.auth.callerIdentity(ctx, req.GetOperator())
	if err != nil {
		return nil, err
	}
	req.Operator = who
	return forwardCluster(ctx, a.fwd, req, func(ctx context.Context, req *verdictv1.ClearDivergenceRequest) (*verdictv1.ClearDivergenceResponse, error) {
		if err := a.coord.ClearDiverged(ctx, req.GetId(), req.GetOperator()); err != nil {
			return nil, err
		}
		return &verdictv1.ClearDivergenceResponse{}, nil
	}, verdictv1.AdminClient.ClearDivergence)
}
