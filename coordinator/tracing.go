package coordinator

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/tracing"
)

// engineTracer is the engine's Tracer port over OpenTelemetry: its span
// references are trace.SpanContexts.
type engineTracer struct{ t *tracing.Tracer }

var _ engine.Tracer = engineTracer{}

func (e engineTracer) Carry(from, to context.Context) context.Context {
	return tracing.Carry(from, to)
}

func (e engineTracer) Start(ctx context.Context, name, txid string) (context.Context, func(error)) {
	return e.t.Start(ctx, name, txid)
}

func (e engineTracer) Ref(ctx context.Context) engine.SpanRef { return tracing.Ref(ctx) }

func (e engineTracer) StartLinked(ctx context.Context, name string, refs []engine.SpanRef, txids []string) (context.Context, func(error)) {
	scs := make([]trace.SpanContext, len(refs))
	for i, r := range refs {
		scs[i], _ = r.(trace.SpanContext)
	}
	return e.t.StartLinked(ctx, name, scs, txids)
}
