package txlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
)

// peerQueueSize bounds the messages waiting for one peer. A full queue drops
// the message and reports the peer unreachable, so a slow or dead peer never
// blocks the Ready loop (raft retransmits what was lost).
const peerQueueSize = 4096

// snapshotChunk is the size of the pieces a snapshot's data travels in.
const snapshotChunk = 1 << 20

// maxSnapshotBytes bounds the snapshot data a receiver accepts.
const maxSnapshotBytes = 4 << 30

// Filter decides whether a raft message is delivered: it is a fault hook for
// tests (drop, partition). It returns false to drop m.
type Filter func(m *raftpb.Message) bool

// Router reorders and duplicates raft messages: it is a fault hook for tests.
// It is given each message this node receives (after the Filter) and returns
// the messages to step now, in order: none (m is held back or dropped), m,
// m twice (a duplicate should be a clone), or messages held back earlier.
// It is called concurrently, once per peer stream, and owns the messages it
// is given.
type Router func(m *raftpb.Message) []*raftpb.Message

// reporter is the part of raft.Node the transport reports to.
type reporter interface {
	Step(ctx context.Context, m *raftpb.Message) error
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// transport carries raft messages between nodes over one gRPC client stream
// per peer. Outbound messages are marshaled in the caller (the Ready loop) and
// queued; one goroutine per peer sends them.
type transport struct {
	peerv1.UnimplementedRaftServer

	id     uint64
	log    *slog.Logger
	dialer []grpc.DialOption
	node   atomic.Pointer[reporter]
	filter atomic.Pointer[Filter]
	router atomic.Pointer[Router]
	auth   peerAuth // who may send raft messages (peerauth.go)

	mu    sync.RWMutex
	peers map[uint64]*peer
	wg    sync.WaitGroup
	done  chan struct{}
}

type outMsg struct {
	data     []byte
	snap     bool
	snapData []byte // a MsgSnap's snapshot data, sent in chunks before data
}

type peer struct {
	id    uint64
	addr  string
	queue chan outMsg
	stop  chan struct{}
}

func newTransport(id uint64, log *slog.Logger, dial []grpc.DialOption) *transport {
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &transport{id: id, log: log, dialer: dial, peers: map[uint64]*peer{}, done: make(chan struct{})}
}

func (t *transport) setNode(r reporter) { t.node.Store(&r) }

func (t *transport) setFilter(f Filter) {
	if f == nil {
		t.filter.Store(nil)
		return
	}
	t.filter.Store(&f)
}

func (t *transport) pass(m *raftpb.Message) bool {
	f := t.filter.Load()
	return f == nil || (*f)(m)
}

// SetRouter installs a fault hook applied to every message received, after
// the Filter (nil removes it; messages it holds are then lost, as on a bad
// network). For tests.
func (n *Node) SetRouter(r Router) {
	if r == nil {
		n.trans.router.Store(nil)
		return
	}
	n.trans.router.Store(&r)
}

// addPeer starts the sender for peer id at addr; it is a no-op for this node
// itself or for a peer already known at the same address.
func (t *transport) addPeer(id uint64, addr string) {
	if id == t.id {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		if p.addr == addr {
			return
		}
		close(p.stop)
	}
	p := &peer{id: id, addr: addr, queue: make(chan outMsg, peerQueueSize), stop: make(chan struct{})}
	t.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.runPeer(p)
	}()
}

func (t *transport) removePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		close(p.stop)
		delete(t.peers, id)
	}
}

func (t *transport) peerAddr(id uint64) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.peers[id]
	if !ok {
		return "", false
	}
	return p.addr, true
}

// send queues msgs; it never blocks. It must be called from the Ready loop:
// raft messages may not be marshaled concurrently with new appends.
func (t *transport) send(msgs []*raftpb.Message) {
	n := t.node.Load()
	for _, m := range msgs {
		if !t.pass(m) {
			continue
		}
		to := m.GetTo()
		isSnap := m.GetType() == raftpb.MsgSnap
		t.mu.RLock()
		p := t.peers[to]
		t.mu.RUnlock()
		var snapData []byte
		full := m.Snapshot
		if isSnap {
			// Marshal the message without the snapshot's data, which
			// travels in chunks; raft owns m, so it is restored at once.
			snapData = full.GetData()
			m.Snapshot = &raftpb.Snapshot{Metadata: full.GetMetadata()}
		}
		data, err := proto.Marshal(m)
		m.Snapshot = full
		if p == nil || err != nil {
			if err != nil {
				t.log.Error("marshal raft message", "to", to, "err", err)
			}
			continue
		}
		select {
		case p.queue <- outMsg{data: data, snap: isSnap, snapData: snapData}:
		default:
			if n != nil {
				(*n).ReportUnreachable(to)
				if isSnap {
					(*n).ReportSnapshot(to, raft.SnapshotFailure)
				}
			}
		}
	}
}

// runPeer owns the connection to one peer: it opens a stream, sends queued
// messages, and on an error reports the peer unreachable and reconnects.
func (t *transport) runPeer(p *peer) {
	conn, err := grpc.NewClient(p.addr, t.dialer...)
	if err != nil {
		t.log.Error("dial peer", "peer", p.id, "addr", p.addr, "err", err)
		return
	}
	defer conn.Close()
	client := peerv1.NewRaftClient(conn)
	backoff := 20 * time.Millisecond
	for {
		err := t.stream(p, client)
		if err == nil {
			return
		}
		if n := t.node.Load(); n != nil {
			(*n).ReportUnreachable(p.id)
		}
		select {
		case <-p.stop:
			return
		case <-t.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// stream sends until the stream fails (an error) or the peer is stopped (nil).
func (t *transport) stream(p *peer, client peerv1.RaftClient) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var s grpc.ClientStreamingClient[peerv1.RaftMessage, peerv1.RaftAck]
	for {
		select {
		case <-p.stop:
			return nil
		case <-t.done:
			return nil
		case m := <-p.queue:
			var err error
			if s == nil {
				s, err = client.Send(ctx)
			}
			for rest := m.snapData; err == nil && len(rest) > 0; {
				n := min(len(rest), snapshotChunk)
				err = s.Send(&peerv1.RaftMessage{SnapshotChunk: rest[:n]})
				rest = rest[n:]
			}
			if err == nil {
				err = s.Send(&peerv1.RaftMessage{Data: m.data})
			}
			if m.snap {
				status := raft.SnapshotFinish
				if err != nil {
					status = raft.SnapshotFailure
				}
				if n := t.node.Load(); n != nil {
					(*n).ReportSnapshot(p.id, status)
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) && s != nil {
					_, err = s.CloseAndRecv()
				}
				return err
			}
		}
	}
}

// Send is the server side of the peer stream: every message admitted
// (admit: one a peer sends, from a member, over TLS from the node the
// connection's certificate names) is stepped into the local raft node;
// the others are dropped and counted.
func (t *transport) Send(s grpc.ClientStreamingServer[peerv1.RaftMessage, peerv1.RaftAck]) error {
	proven, err := streamSender(s.Context())
	if err != nil {
		t.drop(DropIdentity, nil, err)
		return status.Error(codes.PermissionDenied, err.Error())
	}
	var snapData []byte
	for {
		in, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return s.SendAndClose(&peerv1.RaftAck{})
			}
			return err
		}
		if c := in.GetSnapshotChunk(); len(c) > 0 {
			if len(snapData)+len(c) > maxSnapshotBytes {
				return status.Errorf(codes.ResourceExhausted, "txlog: snapshot larger than %d bytes", maxSnapshotBytes)
			}
			snapData = append(snapData, c...)
		}
		if len(in.GetData()) == 0 {
			continue
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(in.Data, m); err != nil {
			t.drop(DropInvalid, nil, fmt.Errorf("malformed: %w", err))
			snapData = nil
			continue
		}
		if reason, err := t.admit(proven, m); err != nil {
			t.drop(reason, m, err)
			snapData = nil
			continue
		}
		if m.GetType() == raftpb.MsgSnap && m.Snapshot != nil {
			m.Snapshot.Data = snapData
		}
		snapData = nil
		if !t.pass(m) {
			continue
		}
		n := t.node.Load()
		if n == nil {
			continue
		}
		one := [1]*raftpb.Message{m}
		msgs := one[:]
		if r := t.router.Load(); r != nil {
			msgs = (*r)(m)
		}
		for _, m := range msgs {
			if err := (*n).Step(s.Context(), m); err != nil && !errors.Is(err, raft.ErrStopped) {
				t.log.Debug("step raft message", "from", m.GetFrom(), "err", err)
			}
		}
	}
}

// check refuses a received message that no peer sends: one addressed to
// another node, from no node or from this one, of a type raft uses only
// within a node, or a proposal (no node forwards proposals:
// DisableProposalForwarding). Who sent it is admit's concern.
func (t *transport) check(m *raftpb.Message) error {
	switch {
	case m.GetTo() != t.id:
		return fmt.Errorf("addressed to node %d, not this node %d", m.GetTo(), t.id)
	case m.GetFrom() == 0 || m.GetFrom() == t.id:
		return fmt.Errorf("sender %d is not a peer", m.GetFrom())
	case raft.IsLocalMsg(m.GetType()) || m.GetType() == raftpb.MsgProp:
		return fmt.Errorf("type %v is never sent between nodes", m.GetType())
	}
	return nil
}

func (t *transport) stop() {
	close(t.done)
	t.wg.Wait()
}
