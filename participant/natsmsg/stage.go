package natsmsg

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/verdict-tx/verdict/internal/staged"
)

// ErrNoTransaction is returned by Stage when ctx carries no transaction:
// neither an initiator's (client.Tx.Context) nor a participant call's
// (behind participant.Server's interceptors).
var ErrNoTransaction = errors.New("verdict: natsmsg: the context carries no transaction")

// ErrInvalidOption is wrapped by the errors of invalid options.
var ErrInvalidOption = errors.New("verdict: natsmsg: invalid option")

// Option configures a staged message.
type Option func(*options) error

// options is what the Options of a message set.
type options struct {
	headers map[string]string
}

// WithHeader sets a header of the published message. Nats-Msg-Id is
// reserved: the coordinator sets it to "<txid>/<n>".
func WithHeader(name, value string) Option {
	return func(o *options) error {
		if err := staged.SetHeader(&o.headers, name, value); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
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
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	data = slices.Clone(data)
	if buf, ok := staged.FromContext(ctx); ok {
		return buf.StageMessage(subject, data, o.headers)
	}
	if call, ok := staged.CallFromContext(ctx); ok {
		if err := call.StageMessage(ctx, subject, data, o.headers); err != nil {
			return fmt.Errorf("verdict: natsmsg: stage in %s: %w", call.TxID(), err)
		}
		return nil
	}
	return ErrNoTransaction
}
