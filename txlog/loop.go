package txlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// run is the Ready loop. The order is the one raft requires: persist entries,
// hard state and snapshot with one fsync (the group commit); send messages
// (a leader sends before persisting, as the Raft thesis §10.2.1 allows); apply
// the snapshot and committed entries; then Advance.
func (n *Node) run() {
	defer close(n.done)
	defer n.trans.stop()
	defer n.storage.Close()
	defer n.raft.Stop()

	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
			n.tickMembership()
		case rd := <-n.raft.Ready():
			if err := n.handleReady(rd); err != nil {
				n.halt(err)
				return
			}
			n.raft.Advance()
		case req := <-n.confc:
			n.enqueueConf(req)
		case <-n.stopc:
			n.halt(nil)
			return
		}
		n.proposeConfs()
	}
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		if lead := rd.SoftState.Lead; lead != raft.None && lead != n.lastLead {
			n.lastLead = lead
			n.leaderChanges.Add(1)
		}
		n.lead.Store(rd.SoftState.Lead)
		wasLeader := n.isLeader
		n.isLeader = rd.SoftState.RaftState == raft.StateLeader
		if wasLeader && !n.isLeader {
			n.leaderTerm.Store(0)
			n.failWaiters(ErrLeadershipLost)
			n.failConf(ErrLeadershipLost, ErrNotLeader)
			n.mu.Lock()
			n.match = map[uint64]uint64{}
			n.mu.Unlock()
			if n.cfg.OnLeadership != nil {
				n.cfg.OnLeadership(false, n.term.Load())
			}
		}
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		n.term.Store(rd.HardState.GetTerm())
		n.commit.Store(rd.HardState.GetCommit())
	}
	n.checkConfAppended(rd.Entries)
	if n.isLeader {
		n.trans.send(rd.Messages)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("persist snapshot: %w", err)
		}
	}
	save := n.storage.Save
	if !rd.MustSync {
		save = n.storage.SaveUnsynced
	}
	if err := save(rd.HardState, rd.Entries); err != nil {
		return fmt.Errorf("persist entries: %w", err)
	}
	if !n.isLeader {
		n.trans.send(rd.Messages)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.applySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := n.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	n.serveReads(rd.ReadStates)
	n.checkLeaderReady()
	return n.maybeSnapshot()
}

func (n *Node) applySnapshot(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	if err := n.restoreSnapshot(snap); err != nil {
		return err
	}
	n.setApplied(md.GetIndex())
	if o := n.cfg.Observer; o != nil {
		o.SnapshotSaved(len(snap.GetData()))
	}
	n.log.Info("applied snapshot from leader", "index", md.GetIndex(), "term", md.GetTerm())
	return nil
}

func (n *Node) applyEntries(ents []*raftpb.Entry) error {
	for _, e := range ents {
		n.appliedBytes += uint64(len(e.GetData()))
		switch e.GetType() {
		case raftpb.EntryNormal:
			if data := e.GetData(); len(data) >= 8 {
				id := binary.BigEndian.Uint64(data)
				val := n.cfg.StateMachine.Apply(e.GetIndex(), e.GetTerm(), data[8:])
				n.mu.Lock()
				ch, ok := n.waiters[id]
				delete(n.waiters, id)
				n.mu.Unlock()
				if ok {
					ch <- proposalResult{val: val}
				}
			}
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			if err := n.applyConfChange(e); err != nil {
				return err
			}
		}
		n.appliedTerm = e.GetTerm()
		n.setApplied(e.GetIndex())
	}
	return nil
}

func (n *Node) setApplied(index uint64) {
	n.applied.Store(index)
	n.mu.Lock()
	kept := n.applyWait[:0]
	for _, w := range n.applyWait {
		if w.index <= index {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	n.applyWait = kept
	n.mu.Unlock()
}

func (n *Node) serveReads(states []raft.ReadState) {
	if len(states) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		if w, ok := n.reads[id]; ok {
			// A follower's read is answered by the leader it forwarded to:
			// it confirms that leader, not this node. Fail it, unless any
			// role's read was asked for.
			if !n.isLeader && !w.anyRole {
				rs.Index = 0
			}
			w.ch <- rs.Index
			delete(n.reads, id)
		}
	}
}

// checkLeaderReady marks the node a ready leader once it has applied an entry
// of its own term (raft appends an empty entry when a leader takes office;
// that is the barrier), and tells OnLeadership.
func (n *Node) checkLeaderReady() {
	if !n.isLeader || n.leaderTerm.Load() != 0 {
		return
	}
	term := n.term.Load()
	if n.appliedTerm != term {
		return
	}
	n.leaderTerm.Store(term)
	n.log.Info("leader ready", "term", term, "applied", n.applied.Load())
	if n.cfg.OnLeadership != nil {
		n.cfg.OnLeadership(true, term)
	}
}

// maybeSnapshot snapshots the state machine and compacts the log behind it,
// keeping CompactionLag entries, once both:
//   - SnapshotEntries entries were applied since the last snapshot, and
//   - those entries add up to at least the last snapshot's size.
//
// The second rule keeps a large state from being serialised again and again
// for a little new log, and bounds the log kept since the last snapshot to
// about the state's size: WAL and snapshot stay within about twice the state
// (plus CompactionLag entries).
//
// A membership change forces a snapshot: raft may send the latest snapshot
// to a new member, which refuses one whose ConfState does not hold it.
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	due := applied-n.snapIndex >= n.cfg.SnapshotEntries && n.appliedBytes >= n.snapSize
	if !due && !n.confChanged {
		return nil
	}
	state, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot state machine: %w", err)
	}
	data, err := n.clusterSnapshot(state)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	n.mu.Lock()
	cs := proto.Clone(n.confState).(*raftpb.ConfState)
	n.mu.Unlock()
	if _, err := n.storage.CreateSnapshot(applied, cs, data); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", applied, err)
	}
	n.snapIndex = applied
	n.snapSize, n.appliedBytes, n.confChanged = uint64(len(data)), 0, false
	if o := n.cfg.Observer; o != nil {
		o.SnapshotSaved(len(data))
	}
	if applied > n.cfg.CompactionLag {
		// After a restart the log may already start past the target: then
		// there is nothing to compact.
		at := applied - n.cfg.CompactionLag
		if err := n.storage.Compact(at); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("compact log at %d: %w", at, err)
		}
	}
	n.log.Debug("snapshot", "index", applied, "bytes", len(data))
	return nil
}

// failWaiters fails every waiting proposal and read with err.
func (n *Node) failWaiters(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, ch := range n.waiters {
		ch <- proposalResult{err: err}
		delete(n.waiters, id)
	}
	for id, w := range n.reads {
		w.ch <- 0
		delete(n.reads, id)
	}
}
