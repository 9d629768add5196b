package coordinator

import (
	"context"
	"maps"
	"slices"

	"github.com/verdict-tx/verdict/coordinator/engine"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// admin is the Admin gRPC service. Status and Members are answered by every
// node for itself; operator actions are forwarded to the leader.
type admin struct {
	verdictv1.UnimplementedAdminServer
	node  *txlog.Node
	coord *engine.Engine
	fwd   *forwarder
	// checkNow asks the leader's state checker for a comparison at once
	// (statecheck.go); nil: none.
	checkNow func()
}

func (a *admin) Status(ctx context.Context, _ *verdictv1.StatusRequest) (*verdictv1.StatusResponse, error) {
	st := a.node.Status()
	_, leaderAddr := a.node.Leader()
	_, ready := a.coord.LeaderTerm()
	var diverged []*verdictv1.DivergedMember
	for _, id := range slices.Sorted(maps.Keys(a.coord.Diverged())) {
		diverged = append(diverged, &verdictv1.DivergedMember{Id: id, SinceIndex: a.coord.Diverged()[id]})
	}
	return &verdictv1.StatusResponse{
		Diverged:           diverged,
		Id:                 st.ID,
		Leader:             st.Leader,
		LeaderAddress:      leaderAddr,
		Term:               st.Term,
		CommitIndex:        st.Commit,
		AppliedIndex:       st.Applied,
		Members:            members(st.Members),
		LeaderReady:        ready,
		Transactions:       uint64(a.coord.Size()),
		UndoneTransactions: uint64(a.coord.UndoneCount()),
	}, nil
}

func (a *admin) Members(ctx context.Context, _ *verdictv1.MembersRequest) (*verdictv1.MembersResponse, error) {
	return &verdictv1.MembersResponse{Members: members(a.node.Status().Members)}, nil
}

func members(ms []txlog.Member) []*verdictv1.Member {
	out := make([]*verdictv1.Member, len(ms))
	for i, m := range ms {
		out[i] = &verdictv1.Member{Id: m.ID, Address: m.Address, Learner: m.Learner, MatchIndex: m.Match}
	}
	return out
}
