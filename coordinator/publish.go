package coordinator

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/verdict-tx/verdict/coordinator/engine"
)

// Publish publishes the staged messages of committed transactions to
// JetStream and waits for every acknowledgement (engine.Publisher). It
// returns one error per transaction (nil: every message of it is
// acknowledged).
//
// Message n of transaction id carries the header Nats-Msg-Id = "id/n": a
// retry (after a lost acknowledgement, or by a new leader) is dropped by
// JetStream as a duplicate within the stream's duplicate window, so each
// message is stored once. Transactions are independent: one whose subject
// no stream captures fails alone, and is retried (and marked stuck) alone.
func (l *natsLink) Publish(ctx context.Context, txs []engine.Staged) []error {
	errs := make([]error, len(txs))
	type sent struct {
		tx int
		f  jetstream.PubAckFuture
	}
	var futures []sent
	for i, tx := range txs {
		for n, m := range tx.Messages {
			msg := &nats.Msg{Subject: m.GetSubject(), Data: m.GetData(), Header: make(nats.Header, len(m.GetHeaders())+1)}
			for k, v := range m.GetHeaders() {
				msg.Header.Set(k, v)
			}
			msg.Header.Set(jetstream.MsgIDHeader, tx.Txid+"/"+strconv.Itoa(n))
			f, err := l.js.PublishMsgAsync(msg)
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
	return errs
}
