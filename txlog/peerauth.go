package txlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// DropReason says why a node dropped a raft message a peer sent it, as the
// reason label of verdict_raft_messages_dropped_total.
type DropReason string

const (
	// DropInvalid: a message no peer sends: undecodable, addressed to
	// another node id, from no node or from this one, of a type raft keeps
	// within a node, or a proposal (nodes never forward proposals).
	DropInvalid DropReason = "invalid"
	// DropNotMember: the sender id is not a member (voter or learner) of
	// the configuration this node has applied.
	DropNotMember DropReason = "not_member"
	// DropIdentity: over TLS, the sender id is not the node id the
	// certificate of the connection names (tlsconf.NodeID); or the
	// certificate names none, and the whole stream is refused (counted
	// once).
	DropIdentity DropReason = "identity"
)

// DropUnsafe: a message raft would have persisted or stepped to a panic,
// refused by the node's checks before raft saw it (inbound.go): an absurd
// term, an invalid snapshot or log slice; also a heartbeat whose commit
// index was cut back to the node's log.
const DropUnsafe DropReason = "unsafe"

// DropReasons lists every DropReason.
var DropReasons = [...]DropReason{DropInvalid, DropNotMember, DropIdentity, DropUnsafe}

// dropWarnEvery bounds the warnings about dropped messages: a peer that
// keeps sending what is dropped (a member this node does not know yet, a
// misconfigured certificate) is logged at warn level once per interval,
// at debug level otherwise.
const dropWarnEvery = time.Second

// peerAuth is the transport's check of who sends a raft message, and its
// count of the messages dropped.
type peerAuth struct {
	// isSender reports whether an id (proven by a certificate, or not) may
	// send raft messages to this node (Node.isSender); set before the
	// transport serves.
	isSender func(id uint64, proven bool) bool
	drops    [len(DropReasons)]atomic.Uint64 // indexed like DropReasons
	lastWarn atomic.Int64                    // unix nanoseconds of the last warning
}

// streamSender names the node a peer stream comes from, as the TLS
// certificate of its connection proves it (tlsconf.NodeID). It is 0 for a
// plaintext stream: plaintext proves no identity, and its peers are
// trusted by their network position (the server's own rules decide who may
// connect); only the member check applies to its messages. Over TLS, a
// stream without a verified certificate that names a node id is refused.
func streamSender(ctx context.Context) (uint64, error) {
	if !tlsconf.OverTLS(ctx) {
		return 0, nil
	}
	cert := tlsconf.PeerCert(ctx)
	if cert == nil {
		return 0, errors.New("txlog: a raft stream over TLS without a verified client certificate")
	}
	id, err := tlsconf.NodeID(cert)
	if err != nil {
		return 0, fmt.Errorf("txlog: raft stream refused: %w", err)
	}
	return id, nil
}

// admit checks a message received on a stream from the node proven (0:
// unproven, plaintext): it must be one a peer sends (check), from the
// proven node, if any, and from a member of the configuration as applied.
func (t *transport) admit(proven uint64, m *raftpb.Message) (DropReason, error) {
	if err := t.check(m); err != nil {
		return DropInvalid, err
	}
	from := m.GetFrom()
	if proven != 0 && from != proven {
		return DropIdentity, fmt.Errorf("sender %d over a connection whose certificate names node %d", from, proven)
	}
	if is := t.auth.isSender; is == nil || !is(from, proven != 0) {
		return DropNotMember, fmt.Errorf("sender %d is not a member of the configuration", from)
	}
	return "", nil
}

// drop counts a message dropped for reason and logs it (m may be nil).
func (t *transport) drop(reason DropReason, m *raftpb.Message, err error) {
	if i := slices.Index(DropReasons[:], reason); i >= 0 {
		t.auth.drops[i].Add(1)
	}
	now := time.Now().UnixNano()
	last := t.auth.lastWarn.Load()
	logf := t.log.Debug
	if now-last >= int64(dropWarnEvery) && t.auth.lastWarn.CompareAndSwap(last, now) {
		logf = t.log.Warn
	}
	if m == nil {
		logf("raft message from peer dropped", "reason", string(reason), "err", err)
		return
	}
	logf("raft message from peer dropped", "reason", string(reason), "from", m.GetFrom(), "to", m.GetTo(), "type", m.GetType().String(), "err", err)
}

// Dropped returns how many raft messages from peers this node dropped
// since it started, by reason.
func (n *Node) Dropped() map[DropReason]uint64 {
	out := make(map[DropReason]uint64, len(DropReasons))
	for i, r := range DropReasons {
		out[r] = n.trans.auth.drops[i].Load()
	}
	out[DropUnsafe] += n.refused.Load()
	return out
}

// isSender reports whether node id may send raft messages to this node:
// never this node nor a removed id; an id that the certificate of the
// connection proves (proven: TLS); otherwise a voter or learner (of either
// side of a joint configuration) of the configuration as applied. A node
// that has no configuration yet (a node joining a group, before its
// leader's log or snapshot has given it one) takes the ids its
// Config.Peers names.
//
// A certificate the cluster's CA issued for a node id is the operator's
// word that the id is a node, so over TLS a member that has missed the
// addition of a node that has since become the leader still takes that
// leader's messages, and catches up. In plaintext nothing proves an id:
// such a member drops the new leader's messages until leadership moves to
// a member it knows (TransferLeadership).
func (n *Node) isSender(id uint64, proven bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id == n.cfg.ID || n.removed[id] {
		return false
	}
	if proven {
		return true
	}
	cs := n.confState
	if len(cs.GetVoters()) == 0 && len(cs.GetVotersOutgoing()) == 0 {
		_, ok := n.cfg.Peers[id]
		return ok
	}
	return slices.Contains(cs.GetVoters(), id) || slices.Contains(cs.GetLearners(), id) ||
		slices.Contains(cs.GetVotersOutgoing(), id) || slices.Contains(cs.GetLearnersNext(), id)
}
