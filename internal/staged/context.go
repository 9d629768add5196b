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

type bufferKey struct{}

// NewContext returns a copy of ctx that carries b.
func NewContext(ctx context.Context, b Buffer) context.Context {
	return context.WithValue(ctx, bufferKey{}, b)
}

// FromContext returns the Buffer ctx carries, if any.
func FromContext(ctx context.Context) (Buffer, bool) {
	b, ok := ctx.Value(bufferKey{}).(Buffer)
	return b, ok
}
