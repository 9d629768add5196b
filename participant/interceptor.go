package participant

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/staged"
	"github.com/verdict-tx/verdict/internal/txmeta"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// callTx is what the interceptors put in a handler's context (as a
// staged.Call): the call's transaction and the Server that admitted it (one
// value, one allocation).
type callTx struct {
	tx  txmeta.Tx
	srv *Server
}

// withCallTx returns a copy of ctx that carries the call's transaction.
func withCallTx(ctx context.Context, tx txmeta.Tx, s *Server) context.Context {
	return staged.NewCallContext(ctx, callTx{tx, s})
}

// StageMessage sends the transaction's coordinator (over the Server's
// connection to it, which follows the leader) a message to publish if the
// transaction commits: natsmsg.Stage in a participant's handler.
func (c callTx) StageMessage(ctx context.Context, subject string, data []byte, headers map[string]string) error {
	conn, err := c.srv.conns.get(c.tx.Coordinators)
	if err != nil {
		return err
	}
	m := &verdictv1.StagedMessage{Subject: subject, Data: data, Headers: headers}
	req := &verdictv1.StageMessagesRequest{Txid: c.tx.ID, Messages: []*verdictv1.StagedMessage{m}}
	if c.tx.Term != 0 {
		// The enlistment that registers the transaction at the leader
		// may not have arrived yet.
		req.Stamp = &verdictv1.TxStamp{Term: c.tx.Term, DeadlineUnixMs: c.tx.Deadline.UnixMilli()}
	}
	_, err = conn.Coordinator().StageMessages(ctx, req)
	return err
}

// TxID returns the id of the call's transaction.
func (c callTx) TxID() string { return c.tx.ID }

// TxInfo is the transaction of a participant call, as the initiator's SDK
// carried it in the call's metadata.
type TxInfo struct {
	// ID is the transaction id (a UUIDv7): the key to do the call's work
	// under (Resource.Prepare, Commit and Abort receive it).
	ID string
	// Coordinators are the client endpoints of the coordinator cluster
	// that runs the transaction.
	Coordinators []string
	// Deadline is when the coordinator aborts the transaction unless it
	// has committed; zero if the call did not carry it.
	Deadline time.Time
}

func txInfo(tx txmeta.Tx) TxInfo {
	return TxInfo{ID: tx.ID, Coordinators: slices.Clone(tx.Coordinators), Deadline: tx.Deadline}
}

// TxFromContext returns the transaction of the call, in a handler behind
// the Server's interceptors.
func TxFromContext(ctx context.Context) (TxInfo, bool) {
	c, _ := staged.CallFromContext(ctx)
	v, ok := c.(callTx)
	if !ok {
		return TxInfo{}, false
	}
	return txInfo(v.tx), true
}

// UnaryServerInterceptor admits calls made under a transaction: it refuses
// a malformed transaction (InvalidArgument), one aborted here, past its
// deadline, or preparing or prepared here (FailedPrecondition), records the
// call for the deadline sweep (see Start), enlists this participant with the
// coordinator (once per transaction) before the call answers, answers the
// caller with the response header txmeta.KeyParticipant, and puts the
// transaction in the handler's context (TxFromContext). Calls without
// transaction metadata pass through untouched.
//
// The first Enlist of a transaction runs while the handler does its work,
// which saves a round trip; the call answers only once the Enlist has
// succeeded. If it fails, the work is discarded (Resource.Abort, and the
// transaction is fenced here) and the call fails. With Config.EarlyVote
// the Enlist follows the handler and carries the vote (earlyvote.go).
func (s *Server) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		tx, ok, err := s.check(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return handler(ctx, req)
		}
		done, err := s.beginWork(tx)
		if err != nil {
			return nil, err
		}
		defer done()
		if s.cfg.EarlyVote {
			return s.callVotingEarly(ctx, tx, req, handler)
		}
		enlisted := s.enlistAsync(ctx, tx)
		if err := grpc.SetHeader(ctx, s.participantHeader()); err != nil {
			s.log.Warn("verdict: cannot set participant header", "txid", tx.ID, "err", err)
		}
		resp, herr := handler(withCallTx(ctx, tx, s), req)
		return s.joined(tx, <-enlisted, resp, herr)
	}
}

// enlistAsync enlists in tx in the background, unless this participant is
// enlisted already; the channel yields the result.
func (s *Server) enlistAsync(ctx context.Context, tx txmeta.Tx) <-chan error {
	ch := make(chan error, 1)
	if s.txs.isEnlisted(tx.ID, s.now()) {
		ch <- nil
		return ch
	}
	go func() { ch <- s.enlist(ctx, tx) }()
	return ch
}

// discard aborts the work a call did under a transaction this participant
// could not join, and fences the transaction.
func (s *Server) discard(id string) {
	s.fence(id)
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.cfg.Resource.Abort(ctx, id); err != nil {
		s.log.Warn("verdict: cannot discard work of a transaction not joined", "txid", id, "err", err)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func (s *Server) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		tx, ok, err := s.check(ss.Context())
		if err != nil {
			return err
		}
		if !ok {
			return handler(srv, ss)
		}
		done, err := s.beginWork(tx)
		if err != nil {
			return err
		}
		defer done()
		if err := s.enlist(ss.Context(), tx); err != nil {
			return err
		}
		// An Abort may have arrived while enlisting.
		if err := s.usable(tx); err != nil {
			return err
		}
		if err := ss.SetHeader(s.participantHeader()); err != nil {
			s.log.Warn("verdict: cannot set participant header", "txid", tx.ID, "err", err)
		}
		return handler(srv, &txServerStream{ServerStream: ss, ctx: withCallTx(ss.Context(), tx, s)})
	}
}

type txServerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *txServerStream) Context() context.Context { return s.ctx }

func (s *Server) participantHeader() metadata.MD {
	return metadata.Pairs(txmeta.KeyParticipant, s.cfg.Name+"="+s.cfg.Address)
}

// check reads the transaction of an incoming call and checks that it may
// still do work here. ok is false for a call without a transaction; err is a
// gRPC status.
func (s *Server) check(ctx context.Context) (tx txmeta.Tx, ok bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tx, ok, err = txmeta.FromMD(md)
	if !ok {
		return tx, false, nil
	}
	if err != nil {
		return tx, true, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return tx, true, s.usable(tx)
}

// beginWork records a call under tx for the deadline sweep, which leaves
// the transaction alone until done is called. It refuses (with a gRPC
// status) a transaction aborted or claimed by the sweep, one this
// participant is preparing or has voted YES on (its work is sealed), and
// one past its deadline.
func (s *Server) beginWork(tx txmeta.Tx) (done func(), err error) {
	done, refused := s.txs.begin(tx.ID, tx.Deadline, s.now())
	if refused != "" {
		return nil, status.Errorf(codes.FailedPrecondition, "verdict: transaction %s %s", tx.ID, refused)
	}
	return done, nil
}

func (s *Server) usable(tx txmeta.Tx) error {
	if s.isFenced(tx.ID) {
		return status.Errorf(codes.FailedPrecondition, "verdict: transaction %s aborted", tx.ID)
	}
	if !tx.Deadline.IsZero() && !s.now().Before(tx.Deadline) {
		return status.Errorf(codes.FailedPrecondition, "verdict: transaction %s is past its deadline", tx.ID)
	}
	return nil
}

// enlistCall is an Enlist in progress, which concurrent calls of the same
// transaction wait for instead of enlisting again.
type enlistCall struct {
	done chan struct{}
	err  error
}

// enlist enlists this participant in tx at the coordinator, unless it did
// already. Concurrent calls for one transaction share one Enlist; when it
// fails, each waiter tries on its own (the failure may have been the first
// caller's context).
func (s *Server) enlist(ctx context.Context, tx txmeta.Tx) error {
	for {
		if s.txs.isEnlisted(tx.ID, s.now()) {
			return nil
		}
		s.mu.Lock()
		if c, ok := s.inflight[tx.ID]; ok {
			s.mu.Unlock()
			select {
			case <-c.done:
				if c.err == nil {
					return nil
				}
				continue
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		c := &enlistCall{done: make(chan struct{})}
		s.inflight[tx.ID] = c
		s.mu.Unlock()

		c.err = s.enlistOnce(ctx, tx)
		s.mu.Lock()
		delete(s.inflight, tx.ID)
		s.mu.Unlock()
		close(c.done)
		return c.err
	}
}

func (s *Server) enlistOnce(ctx context.Context, tx txmeta.Tx) error {
	e, err := s.conns.enlister(tx.Coordinators)
	if err != nil {
		return status.Errorf(codes.Unavailable, "verdict: enlist in %s: %v", tx.ID, err)
	}
	res, err := e.Do(ctx, enlistment{tx: tx})
	if err == nil && codes.Code(res.GetCode()) != codes.OK {
		err = status.Error(codes.Code(res.GetCode()), res.GetMessage())
	}
	if err != nil {
		return enlistError(tx.ID, err)
	}
	s.txs.enlist(tx.ID, tx.Deadline, s.now())
	return nil
}

// enlistError maps a failed Enlist to the status of the call that needed
// it: FailedPrecondition when the coordinator refused (the transaction is
// aborted, unknown, or the request is wrong: retrying cannot help), the
// code of the caller's context when it ended, Unavailable otherwise.
func enlistError(id string, err error) error {
	code := codes.Unavailable
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.NotFound, codes.Aborted, codes.InvalidArgument,
		codes.AlreadyExists, codes.PermissionDenied, codes.OutOfRange:
		code = codes.FailedPrecondition
	}
	if c := contextCode(err); c != codes.OK {
		code = c // the caller's context
	}
	return status.Errorf(code, "verdict: enlist in %s: %v", id, err)
}
