package client

import (
	"fmt"
	"slices"

	"github.com/verdict-tx/verdict/internal/staged"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// PublishOption configures a message staged by Tx.Publish.
type PublishOption func(*publishOptions) error

// publishOptions is what the PublishOptions of a message set.
type publishOptions struct {
	headers map[string]string
}

// WithHeader sets a header of the published message. Nats-Msg-Id is
// reserved: the coordinator sets it to "<txid>/<n>".
func WithHeader(name, value string) PublishOption {
	return func(o *publishOptions) error {
		if err := staged.SetHeader(&o.headers, name, value); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		return nil
	}
}

// Publish stages a message in the transaction: the coordinator publishes
// it to NATS JetStream, on subject, if and only if the transaction commits
// (never when it aborts), with the header Nats-Msg-Id = "<txid>/<n>" so
// that a stream's duplicate window keeps exactly one copy. Messages are
// buffered here and sent with Commit, where the coordinator refuses them
// (ResourceExhausted) beyond its limit per transaction (--max-staged-bytes,
// default 1 MiB) or when it has no NATS configured (FailedPrecondition);
// the transaction is then aborted. data is copied.
//
// natsmsg.Stage does the same when its context carries a Tx (Context).
func (tx *Tx) Publish(subject string, data []byte, opts ...PublishOption) error {
	if err := staged.ValidateSubject(subject); err != nil {
		return err
	}
	var o publishOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	return tx.stage(&verdictv1.StagedMessage{Subject: subject, Data: slices.Clone(data), Headers: o.headers})
}

// stage buffers m, already checked, until Commit.
func (tx *Tx) stage(m *verdictv1.StagedMessage) error {
	if tx.done.Load() {
		return ErrTxDone
	}
	tx.mu.Lock()
	tx.messages = append(tx.messages, m)
	tx.mu.Unlock()
	return nil
}

// txBuffer is a Tx as the staged.Buffer its contexts carry, through which
// natsmsg.Stage stages messages without importing this package.
type txBuffer struct{ tx *Tx }

func (b txBuffer) StageMessage(subject string, data []byte, headers map[string]string) error {
	return b.tx.stage(&verdictv1.StagedMessage{Subject: subject, Data: data, Headers: headers})
}
