package client

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-tx/verdict/internal/tracing"
)

// txSpan is a transaction's span (WithTracerProvider): started by Begin,
// ended by Commit or Abort. The zero txSpan traces nothing.
type txSpan struct {
	ref  trace.SpanContext
	done func(error)
}

// startTrace starts the span of a transaction begun with ctx.
func (c *Client) startTrace(ctx context.Context) (context.Context, txSpan) {
	ctx, end := c.tracer.Start(ctx, "verdict.tx", "")
	return ctx, txSpan{ref: tracing.Ref(ctx), done: end}
}

// in returns ctx under the transaction's span.
func (s txSpan) in(ctx context.Context) context.Context {
	if !s.ref.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, s.ref)
}

// end ends the span, recording err if not nil.
func (s txSpan) end(err error) {
	if s.done != nil {
		s.done(err)
	}
}
