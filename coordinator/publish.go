package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The staged messages of a COMMIT are one more phase-2 target, beside the
// transaction's participants: a pseudo-participant named messagesName,
// whose "address" messagesAddr routes its deliveries to the leader's
// JetStream publisher instead of a Participant service. Neither can be
// taken by a real participant (validateParticipant refuses both), and
// neither is ever written to the log: the leader adds the target to a
// COMMIT that carries messages when it starts or re-drives phase 2.
const (
	messagesName = "@nats"
	messagesAddr = "@nats"
)

// messagesRef is the phase-2 target of staged messages.
var messagesRef = &verdictv1.ParticipantRef{Name: messagesName, Address: messagesAddr}

// phase2Targets returns the phase-2 targets of a decision: its
// participants, and its staged messages if it is a COMMIT that has any.
func phase2Targets(o verdictv1.Outcome, parts []*verdictv1.ParticipantRef, staged bool) []*verdictv1.ParticipantRef {
	if !staged || o != verdictv1.Outcome_OUTCOME_COMMITTED {
		return parts
	}
	out := make([]*verdictv1.ParticipantRef, len(parts), len(parts)+1)
	copy(out, parts)
	return append(out, messagesRef)
}

// errNoNATS is why phase 2 cannot publish at a leader without
// Config.NatsURL (a cluster whose nodes disagree on it).
var errNoNATS = errors.New("verdict: this leader has no NATS configured (--nats-url): staged messages cannot be published")

// publishStaged publishes the staged messages of the committed
// transactions ids to JetStream and waits for every acknowledgement. It
// returns one error per txid (nil: every message of that transaction is
// acknowledged, so its messages target is done).
//
// Message n of transaction id carries the header Nats-Msg-Id = "id/n": a
// retry (after a lost acknowledgement, or by a new leader) is dropped by
// JetStream as a duplicate within the stream's duplicate window, so each
// message is stored once. Transactions are independent: one whose subject
// no stream captures fails alone, and is retried (and marked stuck) alone.
func (c *Coordinator) publishStaged(ctx context.Context, ids []string) []error {
	errs := make([]error, len(ids))
	if c.nats == nil {
		for i := range errs {
			errs[i] = errNoNATS
		}
		return errs
	}
	type sent struct {
		tx int
		f  jetstream.PubAckFuture
	}
	var futures []sent
	for i, id := range ids {
		for n, m := range c.fsm.messages(id) {
			msg := &nats.Msg{Subject: m.GetSubject(), Data: m.GetData(), Header: make(nats.Header, len(m.GetHeaders())+1)}
			for k, v := range m.GetHeaders() {
				msg.Header.Set(k, v)
			}
			msg.Header.Set(jetstream.MsgIDHeader, id+"/"+strconv.Itoa(n))
			f, err := c.nats.js.PublishMsgAsync(msg)
			if err != nil {
				errs[i] = fmt.Errorf("publish %s: %w", m.GetSubject(), err)
				break
			}
			futures = append(futures, sent{tx: i, f: f})
		}
	}
	for _, s := range futures {
		select {
		case <-s.f.Ok():
		case err := <-s.f.Err():
			if errs[s.tx] == nil {
				errs[s.tx] = fmt.Errorf("publish %s: %w", s.f.Msg().Subject, err)
			}
		case <-ctx.Done():
			if errs[s.tx] == nil {
				errs[s.tx] = fmt.Errorf("publish %s: no acknowledgement: %w", s.f.Msg().Subject, ctx.Err())
			}
		}
	}
	if h := c.cfg.hooks; h != nil && h.afterPublished != nil {
		for i, id := range ids {
			if errs[i] == nil && !h.afterPublished(c.ctx, id) {
				errs[i] = errors.New("node stopped")
			}
		}
	}
	return errs
}
