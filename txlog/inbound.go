package txlog

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
)

// What a peer sends is checked before raft steps it (admit): raft persists
// a message's term, entries and snapshot before this node applies them, and
// panics on some values it takes on trust. A message that fails a check is
// dropped (counted in Counters.RefusedMessages and Dropped()[DropUnsafe],
// logged at warn), so that no message, forged or corrupt, can crash the
// node or leave a data dir it cannot start from.

// Bounds on the term of a message from a peer.
const (
	// maxTermLead is how far past this node's term a message's term may
	// be. A term grows by one per election, and PreVote keeps a cut-off
	// node from inflating its own: 2^32 elections, one per election
	// timeout at best, take decades. Past it the term is forged or
	// corrupt, and taking it would make it durable.
	maxTermLead = 1 << 32
	// maxTerm bounds every term admitted, whatever this node's own: raft
	// campaigns at term+1, and a term near 2^64 wraps (raft panics, again
	// at every restart, the term being durable). Stepping a node up by
	// maxTermLead at a time would take 2^30 forged messages to reach it.
	maxTerm = 1 << 62
)

// inbound is the raft node as the transport steps into it: every message
// passes admit first.
type inbound struct {
	reporter
	n *Node
}

func (in inbound) Step(ctx context.Context, m *raftpb.Message) error {
	if err := in.n.admit(m); err != nil {
		in.n.refused.Add(1)
		in.n.log.Warn("raft message from peer refused", "from", m.GetFrom(), "type", m.GetType().String(), "term", m.GetTerm(), "err", err)
		return nil
	}
	return in.reporter.Step(ctx, m)
}

// admit checks a message from a peer before raft steps it: its term, the
// log slice of an append, the snapshot of a MsgSnap. A heartbeat's commit
// index past this node's log (raft panics on it; a real leader sends at
// most what this node has acknowledged, hence persisted) is cut back to
// the log's end, and the heartbeat admitted.
func (n *Node) admit(m *raftpb.Message) error {
	term := n.term.Load()
	if t := m.GetTerm(); t > maxTerm || t > term+maxTermLead {
		return fmt.Errorf("term %d is past any election (this node is at term %d)", t, term)
	}
	switch m.GetType() {
	case raftpb.MsgApp:
		return checkAppend(m)
	case raftpb.MsgSnap:
		return n.checkSnapshot(m)
	case raftpb.MsgHeartbeat:
		if last, err := n.storage.LastIndex(); err == nil && m.GetCommit() > last {
			n.refused.Add(1)
			n.log.Warn("heartbeat commits past this node's log; commit cut back", "from", m.GetFrom(), "commit", m.GetCommit(), "last", last)
			m.Commit = new(last)
		}
	}
	return nil
}

// checkAppend checks that an append's entries form a slice of a log that
// follows its (Index, LogTerm): indexes one after another, terms never
// falling and none past the message's, and membership changes that decode
// (one that does not would stop every replica that applies it).
func checkAppend(m *raftpb.Message) error {
	index, term := m.GetIndex(), m.GetLogTerm()
	if term > m.GetTerm() {
		return fmt.Errorf("log term %d past the message's term %d", term, m.GetTerm())
	}
	for _, e := range m.GetEntries() {
		if e.GetIndex() != index+1 || e.GetIndex() == 0 {
			return fmt.Errorf("entry %d does not follow entry %d", e.GetIndex(), index)
		}
		if e.GetTerm() < term || e.GetTerm() > m.GetTerm() {
			return fmt.Errorf("entry %d has term %d, outside [%d, %d]", e.GetIndex(), e.GetTerm(), term, m.GetTerm())
		}
		if err := checkEntryData(e); err != nil {
			return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
		index, term = e.GetIndex(), e.GetTerm()
	}
	return nil
}

func checkEntryData(e *raftpb.Entry) error {
	switch e.GetType() {
	case raftpb.EntryNormal:
		return nil // the state machine's to judge, deterministically
	case raftpb.EntryConfChange:
		return proto.Unmarshal(e.GetData(), new(raftpb.ConfChange))
	case raftpb.EntryConfChangeV2:
		return proto.Unmarshal(e.GetData(), new(raftpb.ConfChangeV2))
	}
	return fmt.Errorf("unknown entry type %v", e.GetType())
}

// checkSnapshot checks a MsgSnap's snapshot as restoring it will use it:
// its metadata, the configuration raft restores (it panics on one it
// cannot), the envelope and the state machine's state.
func (n *Node) checkSnapshot(m *raftpb.Message) error {
	snap := m.GetSnapshot()
	md := snap.GetMetadata()
	switch {
	case md.GetIndex() == 0 || md.GetTerm() == 0:
		return errors.New("snapshot without an index or a term")
	case md.GetTerm() > m.GetTerm():
		return fmt.Errorf("snapshot of term %d past the message's term %d", md.GetTerm(), m.GetTerm())
	}
	if err := checkRestorable(raftpb.EnsureConfState(md.GetConfState())); err != nil {
		return fmt.Errorf("snapshot at %d: %w", md.GetIndex(), err)
	}
	var cs peerv1.ClusterSnapshot
	if err := proto.Unmarshal(snap.GetData(), &cs); err != nil {
		return fmt.Errorf("snapshot at %d does not decode: %w", md.GetIndex(), err)
	}
	if err := n.cfg.StateMachine.CheckSnapshot(cs.GetState()); err != nil {
		return fmt.Errorf("snapshot at %d: state: %w", md.GetIndex(), err)
	}
	return nil
}

// checkRestorable checks that raft can restore cs, as raft itself does when
// it restores a snapshot, and that cs has a voter.
func checkRestorable(cs *raftpb.ConfState) error {
	if len(cs.GetVoters()) == 0 {
		return errors.New("configuration without a voter")
	}
	trk := tracker.MakeProgressTracker(1, 0)
	cfg, prs, err := confchange.Restore(confchange.Changer{Tracker: trk, LastIndex: 1}, cs)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	trk.Config, trk.Progress = cfg, prs
	if err := cs.Equivalent(trk.ConfState()); err != nil {
		return errors.New("configuration is not one raft can restore")
	}
	return nil
}
