package natsmsg

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/verdict-tx/verdict/internal/staged"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// ErrNoTransaction is returned by Stage when ctx carries no transaction:
// neither an initiator's (client.Tx.Context) nor a participant call's
// (behind participant.Server's interceptors).
var ErrNoTransaction = errors.New("verdict: natsmsg: the context carries no transaction")

// ErrInvalidOption is wrapped by the errors of invalid options.
var ErrInvalidOption = errors.New("verdict: natsmsg: invalid option")

// Option configures a staged message.
type Option func(*verdictv1.StagedMessage) error

// WithHeader sets a header of the published message. Nats-Msg-Id is
// reserved: the coordinator sets it to "<txid>/<n>".
func WithHeader(name, value string) Option {
	return func(m *verdictv1.StagedMessage) error {
		if err := staged.ValidateHeader(name); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		m.Headers[name] = value
		return nil
	}
}

// Stage stages a message in the transaction of ctx: it is published to
// JetStream on subject if and only if the transaction commits.
//
// In an initiator (ctx from client.Tx.Context) the message is buffered in
// the Tx and sent with Commit (client.Tx.Publish). In a participant's
// handler (ctx behind participant.Server's interceptors) it is sent at once
// to the coordinator's leader (StageMessages), which adds it to the active
// transaction; Stage returns once the leader holds it. Errors from the
// coordinator are gRPC statuses: FailedPrecondition when the transaction is
// no longer active (or the coordinator has no NATS configured),
// ResourceExhausted beyond the coordinator's limit of staged bytes per
// transaction. data is copied.
func Stage(ctx context.Context, subject string, data []byte, opts ...Option) error {
	if err := staged.ValidateSubject(subject); err != nil {
		return err
	}
	m := &verdictv1.StagedMessage{Subject: subject, Data: slices.Clone(data)}
	for _, opt := range opts {
		if err := opt(m); err != nil {
			return err
		}
	}
	if buf, ok := staged.FromContext(ctx); ok {
		return buf.StageMessage(m.Subject, m.Data, m.Headers)
	}
	if _, ok := participant.TxFromContext(ctx); !ok {
		return ErrNoTransaction
	}
	coord, tx, err := participant.CoordinatorFromContext(ctx)
	if err != nil {
		return fmt.Errorf("verdict: natsmsg: stage in %s: %w", tx.ID, err)
	}
	if _, err := coord.StageMessages(ctx, &verdictv1.StageMessagesRequest{Txid: tx.ID, Messages: []*verdictv1.StagedMessage{m}}); err != nil {
		return fmt.Errorf("verdict: natsmsg: stage in %s: %w", tx.ID, err)
	}
	return nil
}
