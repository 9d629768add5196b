package staged

import "context"

// Buffer is an initiator's transaction seen by the packages that stage
// messages in it (participant/natsmsg) without importing the client SDK:
// the client's Tx is carried in its contexts as a Buffer.
type Buffer interface {
	// StageMessage buffers a message, already checked (ValidateSubject,
	// ValidateHeader), to be sent with the transaction's Commit; it fails
	// once the transaction is done. The Buffer keeps data and headers.
	StageMessage(subject string, data []byte, headers map[string]string) error
}

// Call is the transaction of a participant call seen by the packages that
// stage messages in it (participant/natsmsg): the participant SDK carries
// it in the contexts of the handlers behind its interceptors, so that the
// wire protocol stays out of its exported API.
type Call interface {
	// TxID returns the transaction id.
	TxID() string
	// StageMessage sends a message, already checked (ValidateSubject,
	// ValidateHeader), to the coordinator's leader, which adds it to the
	// transaction while the transaction is active; it returns once the
	// leader holds it. Errors from the coordinator are gRPC statuses.
	StageMessage(ctx context.Context, subject string, data []byte, headers map[string]string) error
}

type bufferKey struct{}

type callKey struct{}

// NewContext returns a copy of ctx that carries b.
func NewContext(ctx context.Context, b Buffer) context.Context {
	return context.WithValue(ctx, bufferKey{}, b)
}

// FromContext returns the Buffer ctx carries, if any.
func FromContext(ctx context.Context) (Buffer, bool) {
	b, ok := ctx.Value(bufferKey{}).(Buffer)
	return b, ok
}

// NewCallContext returns a copy of ctx that carries c.
func NewCallContext(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFromContext returns the Call ctx carries, if any.
func CallFromContext(ctx context.Context) (Call, bool) {
	c, ok := ctx.Value(callKey{}).(Call)
	return c, ok
}
