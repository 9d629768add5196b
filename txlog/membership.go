package txlog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Errors of membership changes. They are wrapped with the id concerned.
var (
	// ErrBadMember means the id is zero or the address is not host:port.
	ErrBadMember = errors.New("txlog: invalid member")
	// ErrMemberExists means the id is already a voter or a learner.
	ErrMemberExists = errors.New("txlog: already a member")
	// ErrMemberRemoved means the id was removed from the group once: ids are
	// never reused, so it can be neither added nor removed again.
	ErrMemberRemoved = errors.New("txlog: id was removed from the group and is never reused")
	// ErrNotMember means the id is not a member of the group.
	ErrNotMember = errors.New("txlog: not a member")
	// ErrLastVoter means the change would leave the group without a voter.
	ErrLastVoter = errors.New("txlog: cannot remove the last voter")
	// ErrNotVoter means the id is a learner where a voter is needed.
	ErrNotVoter = errors.New("txlog: not a voter")
	// ErrConfChangeDropped means raft refused the change because another
	// one was still being applied; nothing changed, and it may be retried.
	ErrConfChangeDropped = errors.New("txlog: membership change dropped while another was pending")
	// ErrTransferFailed means leadership did not move to the transferee in
	// time (it may be unreachable or too far behind).
	ErrTransferFailed = errors.New("txlog: leadership transfer did not complete")
)

// promoteLag is how many entries a learner may trail the leader's last index
// by and still be promoted to voter: close enough that, as a voter, it does
// not slow the quorum down while it catches up the rest.
const promoteLag = 64

// confReq is a membership change waiting for the Ready loop to propose it.
type confReq struct {
	ctx  context.Context
	cc   *raftpb.ConfChange // cc.Id identifies the request
	done chan error         // buffered; nil for the leader's own promotions
}

func (r *confReq) finish(err error) {
	if r.done != nil {
		r.done <- err
	}
}

// confLoop is the Ready loop's state of membership changes. Raft accepts one
// conf change at a time and silently turns a second one into an empty entry,
// so the loop proposes them one by one, each after the previous one was
// applied and Advanced, and checks that each reached the log.
type confLoop struct {
	queue    []*confReq
	pending  *confReq // proposed, not yet applied
	appended bool     // pending was seen among the entries to persist
	ticks    int      // ticks since the last promotion check
}

// AddLearner adds node id, serving peers at addr, to the group as a learner
// and waits until the change is applied on this node. The leader promotes
// the learner to voter once it has caught up. Only the ready leader accepts
// it (ErrNotLeader otherwise). ErrLeadershipLost and a context error mean
// the change may or may not take effect.
func (n *Node) AddLearner(ctx context.Context, id uint64, addr string) error {
	if id == 0 {
		return fmt.Errorf("%w: id must be non-zero", ErrBadMember)
	}
	if err := CheckAddress(addr); err != nil {
		return fmt.Errorf("%w: node %d: %v", ErrBadMember, id, err)
	}
	return n.changeConf(ctx, &raftpb.ConfChange{
		Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: new(id), Context: []byte(addr),
	})
}

// Remove removes node id from the group for good and waits until the change
// is applied on this node. Errors as for AddLearner.
func (n *Node) Remove(ctx context.Context, id uint64) error {
	if id == 0 {
		return fmt.Errorf("%w: id must be non-zero", ErrBadMember)
	}
	return n.changeConf(ctx, &raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: new(id)})
}

func (n *Node) changeConf(ctx context.Context, cc *raftpb.ConfChange) error {
	if _, ok := n.LeaderTerm(); !ok {
		return ErrNotLeader
	}
	cc.Id = new(n.propSeq.Add(1))
	req := &confReq{ctx: ctx, cc: cc, done: make(chan error, 1)}
	select {
	case n.confc <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.stoppedErr()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.stoppedErr()
	}
}

// transferWait bounds TransferLeadership when its context has no deadline.
const transferWait = 30 * time.Second

// TransferLeadership hands leadership to the voter transferee and waits
// until it has taken office, as seen from this node, for as long as ctx
// allows (transferWait without a deadline). Only the ready leader accepts
// it. Transferring to this node itself succeeds at once.
//
// Raft gives an attempt up after an election timeout; on a busy machine the
// transferee may campaign later than that, or the attempt's message may be
// lost. So the wait is the caller's, and a lapsed attempt is made again
// while this node still leads and has heard from the transferee within two
// election timeouts; a transferee it has not heard from fails the transfer
// (ErrTransferFailed) instead, as does another node taking office.
func (n *Node) TransferLeadership(ctx context.Context, transferee uint64) error {
	if _, ok := n.LeaderTerm(); !ok {
		return ErrNotLeader
	}
	if transferee == n.cfg.ID {
		return nil
	}
	n.mu.Lock()
	voter, learner := slices.Contains(n.confState.GetVoters(), transferee), slices.Contains(n.confState.GetLearners(), transferee)
	n.mu.Unlock()
	switch {
	case learner:
		return fmt.Errorf("%w: node %d is a learner", ErrNotVoter, transferee)
	case !voter:
		return fmt.Errorf("%w: node %d", ErrNotMember, transferee)
	}
	var fallback <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(transferWait)
		defer t.Stop()
		fallback = t.C
	}
	electionTimeout := time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	n.raft.TransferLeadership(ctx, n.cfg.ID, transferee)
	attempted := time.Now()
	// heard is when the transferee was last seen active. Raft clears
	// RecentActive at every election timeout, and a busy machine delays
	// the answer that sets it again: a transferee is given up only when
	// it has not been seen active for two election timeouts.
	heard := attempted
	poll := time.NewTicker(n.cfg.TickInterval)
	defer poll.Stop()
	for {
		switch lead := n.lead.Load(); lead {
		case transferee:
			return nil
		case n.cfg.ID:
			st := n.raft.Status()
			if pr, ok := st.Progress[transferee]; ok && pr.RecentActive {
				heard = time.Now()
			}
			if time.Since(attempted) < electionTimeout {
				break
			}
			if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 {
				break // stepping down, or the attempt still runs
			}
			if time.Since(heard) > 2*electionTimeout {
				return fmt.Errorf("%w: node %d has not answered within two election timeouts (%v)", ErrTransferFailed, transferee, 2*electionTimeout)
			}
			n.raft.TransferLeadership(ctx, n.cfg.ID, transferee)
			attempted = time.Now()
		case 0:
		default:
			return fmt.Errorf("%w: node %d took office instead of %d", ErrTransferFailed, lead, transferee)
		}
		select {
		case <-poll.C:
		case <-fallback:
			return fmt.Errorf("%w: node %d did not take office within %v", ErrTransferFailed, transferee, transferWait)
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return n.stoppedErr()
		}
	}
}

// CheckAddress accepts a member address: host:port with a non-empty host
// and a port in 1-65535.
func CheckAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %.80q is not host:port", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || host == "" {
		return fmt.Errorf("address %.80q needs a host and a port in 1-65535", addr)
	}
	return nil
}

// checkConfChange reports whether cc may apply to the current membership. It
// runs on the leader before proposing and again on every replica when the
// entry applies: it reads only replicated state (confState, removed), so
// every replica decides alike. n.mu must be held.
func (n *Node) checkConfChange(cc *raftpb.ConfChange) error {
	id := cc.GetNodeId()
	if id == 0 {
		return fmt.Errorf("%w: id must be non-zero", ErrBadMember)
	}
	voters, learners := n.confState.GetVoters(), n.confState.GetLearners()
	voter, learner := slices.Contains(voters, id), slices.Contains(learners, id)
	if n.removed[id] {
		return fmt.Errorf("%w: node %d", ErrMemberRemoved, id)
	}
	switch cc.GetType() {
	case raftpb.ConfChangeAddLearnerNode:
		if voter || learner {
			return fmt.Errorf("%w: node %d", ErrMemberExists, id)
		}
	case raftpb.ConfChangeAddNode:
		// A promotion, or a voter of the initial configuration.
	case raftpb.ConfChangeRemoveNode:
		if !voter && !learner {
			return fmt.Errorf("%w: node %d", ErrNotMember, id)
		}
		if voter && len(voters) == 1 {
			return fmt.Errorf("%w: node %d", ErrLastVoter, id)
		}
	default:
		return fmt.Errorf("%w: unsupported change %v", ErrBadMember, cc.GetType())
	}
	return nil
}

// enqueueConf queues a membership change (loop goroutine).
func (n *Node) enqueueConf(req *confReq) { n.conf.queue = append(n.conf.queue, req) }

// proposeConfs proposes the next queued change if none is pending. It runs
// on the loop goroutine after Advance, so raft's applied index includes
// every change applied so far and raft will not drop the proposal as
// "another one pending".
func (n *Node) proposeConfs() {
	for n.conf.pending == nil && len(n.conf.queue) > 0 {
		req := n.conf.queue[0]
		n.conf.queue = n.conf.queue[1:]
		if err := req.ctx.Err(); err != nil {
			req.finish(err)
			continue
		}
		if n.leaderTerm.Load() == 0 {
			req.finish(ErrNotLeader)
			continue
		}
		n.mu.Lock()
		err := n.checkConfChange(req.cc)
		n.mu.Unlock()
		if err != nil {
			req.finish(err)
			continue
		}
		// raft blocks proposals while it knows no leader; a leadership
		// change since the last Ready must not stall the loop for long.
		ctx, cancel := context.WithTimeout(req.ctx, time.Duration(n.cfg.ElectionTicks)*n.cfg.TickInterval)
		err = n.raft.ProposeConfChange(ctx, req.cc)
		cancel()
		switch {
		case errors.Is(err, raft.ErrProposalDropped):
			req.finish(ErrNotLeader)
		case errors.Is(err, raft.ErrStopped):
			req.finish(n.stoppedErr())
		case err != nil:
			req.finish(fmt.Errorf("%w: propose membership change: %v", ErrLeadershipLost, err))
		default:
			n.conf.pending, n.conf.appended = req, false
		}
	}
}

// checkConfAppended looks for the pending change among the entries of the
// first Ready after it was proposed: raft puts a refused conf change there as
// an empty normal entry instead, and the change will never apply.
func (n *Node) checkConfAppended(ents []*raftpb.Entry) {
	p := n.conf.pending
	if p == nil || n.conf.appended || !n.isLeader {
		return
	}
	for _, e := range ents {
		if e.GetType() != raftpb.EntryConfChange {
			continue
		}
		var cc raftpb.ConfChange
		if proto.Unmarshal(e.GetData(), &cc) == nil && cc.GetId() == p.cc.GetId() {
			n.conf.appended = true
			return
		}
	}
	n.conf.pending = nil
	p.finish(ErrConfChangeDropped)
}

// failConf fails the pending and queued changes (loop goroutine).
func (n *Node) failConf(pendingErr, queuedErr error) {
	if p := n.conf.pending; p != nil {
		n.conf.pending = nil
		p.finish(pendingErr)
	}
	for _, req := range n.conf.queue {
		req.finish(queuedErr)
	}
	n.conf.queue = nil
}

// tickMembership runs on the leader every heartbeat: it refreshes the
// members' match indexes and queues the promotion of a learner that has
// caught up to within promoteLag entries of the leader's last index.
func (n *Node) tickMembership() {
	if n.leaderTerm.Load() == 0 {
		return
	}
	if n.conf.ticks++; n.conf.ticks < n.cfg.HeartbeatTicks {
		return
	}
	n.conf.ticks = 0
	st := n.raft.Status()
	if st.Progress == nil {
		return
	}
	last := st.Progress[n.cfg.ID].Match
	match := make(map[uint64]uint64, len(st.Progress))
	var promote uint64
	for id, pr := range st.Progress {
		match[id] = pr.Match
		if pr.IsLearner && pr.State == tracker.StateReplicate && pr.Match+promoteLag >= last && (promote == 0 || id < promote) {
			promote = id
		}
	}
	n.mu.Lock()
	n.match = match
	n.mu.Unlock()
	if promote == 0 || n.conf.pending != nil || len(n.conf.queue) > 0 {
		return
	}
	n.log.Info("promoting caught-up learner to voter", "member", promote, "match", match[promote], "last", last)
	n.enqueueConf(&confReq{ctx: context.Background(), cc: &raftpb.ConfChange{
		Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(promote), Id: new(n.propSeq.Add(1)),
	}})
}

// applyConfChange applies a committed conf change entry. A change that the
// replicated membership refuses (checkConfChange: a removed id, the last
// voter) is applied as a no-op on every replica alike.
func (n *Node) applyConfChange(e *raftpb.Entry) error {
	var cc *raftpb.ConfChange
	switch e.GetType() {
	case raftpb.EntryConfChange:
		cc = new(raftpb.ConfChange)
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
		}
	case raftpb.EntryConfChangeV2:
		// Verdict proposes only single changes (ConfChange); a V2 entry
		// with one change is read as one.
		var v2 raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &v2); err != nil {
			return fmt.Errorf("decode conf change at %d: %w", e.GetIndex(), err)
		}
		cc = &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), Context: v2.GetContext()}
		if chs := v2.GetChanges(); len(chs) == 1 {
			cc.Type, cc.NodeId = chs[0].GetType().Enum(), new(chs[0].GetNodeId())
		}
	}
	n.mu.Lock()
	refused := n.checkConfChange(cc)
	n.mu.Unlock()
	apply := cc
	if refused != nil {
		apply = &raftpb.ConfChange{} // node id 0: raft ignores it
		n.log.Warn("membership change refused", "index", e.GetIndex(), "err", refused)
	}
	cs := n.raft.ApplyConfChange(apply)
	id := cc.GetNodeId()
	n.mu.Lock()
	n.confState = cs
	if refused == nil {
		switch cc.GetType() {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			if addr := string(cc.GetContext()); addr != "" {
				n.members[id] = addr
			}
			if addr := n.dialAddr(id); addr != "" {
				n.trans.addPeer(id, addr)
			}
		case raftpb.ConfChangeRemoveNode:
			delete(n.members, id)
			delete(n.match, id)
			n.removed[id] = true
			n.trans.removePeer(id)
		}
	}
	n.mu.Unlock()
	if refused == nil {
		n.confChanged = true
		n.logConfChange(cc, e.GetIndex())
	}
	if p := n.conf.pending; p != nil && p.cc.GetId() == cc.GetId() {
		n.conf.pending = nil
		p.finish(refused)
	}
	return nil
}

func (n *Node) logConfChange(cc *raftpb.ConfChange, index uint64) {
	id := cc.GetNodeId()
	switch cc.GetType() {
	case raftpb.ConfChangeAddLearnerNode:
		n.log.Info("member added as learner", "member", id, "addr", string(cc.GetContext()), "index", index)
	case raftpb.ConfChangeAddNode:
		n.log.Debug("member is a voter", "member", id, "index", index)
	case raftpb.ConfChangeRemoveNode:
		n.log.Info("member removed", "member", id, "index", index)
		if id == n.cfg.ID {
			n.log.Warn("this node was removed from the group; it takes no further part and can be stopped")
		}
	}
}

// dialAddr is where this node reaches member id: cfg.Peers wins over the
// replicated address. n.mu must be held.
func (n *Node) dialAddr(id uint64) string {
	if addr, ok := n.cfg.Peers[id]; ok {
		return addr
	}
	return n.members[id]
}

// removedFilter drops the raft messages of removed nodes before they reach
// raft: a removed node that missed its removal keeps campaigning, and must
// not disturb the group.
type removedFilter struct {
	raft.Node
	n *Node
}

func (f removedFilter) Step(ctx context.Context, m *raftpb.Message) error {
	f.n.mu.Lock()
	removed := f.n.removed[m.GetFrom()]
	f.n.mu.Unlock()
	if removed {
		return nil
	}
	return f.Node.Step(ctx, m)
}
