// Package tracing is Verdict's OpenTelemetry tracing: the gRPC stats
// handlers that every server and client Verdict builds installs when given
// a TracerProvider, spans about transactions (with their txid as the
// attribute verdict.txid), and spans for batched calls, which carry many
// transactions: such a span lives in the trace of the first transaction it
// carries and links to the others'. With a nil TracerProvider everything
// here is a no-op, and nothing is installed.
//
// Trace context crosses processes in the W3C traceparent header (the
// handlers use propagation.TraceContext, whatever the global propagator).
package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Instrumentation is the name of the tracer of Verdict's own spans.
const Instrumentation = "github.com/verdict-tx/verdict"

// TxidKey is the attribute that names a span's transaction;
// TxidsKey those of a batched call.
const (
	TxidKey  = attribute.Key("verdict.txid")
	TxidsKey = attribute.Key("verdict.txids")
)

// Propagator carries trace context across processes.
var Propagator = propagation.TraceContext{}

// untraced are the calls no transaction's trace wants: Raft's streams
// between nodes and health checks.
var untraced = filters.None(filters.ServiceName("verdict.peer.v1.Raft"), filters.HealthCheck())

func handlerOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(Propagator), otelgrpc.WithFilter(untraced)}
}

// ServerOptions trace the calls a gRPC server serves; none for nil tp.
func ServerOptions(tp trace.TracerProvider) []grpc.ServerOption {
	if tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(handlerOptions(tp)...))}
}

// DialOptions trace the calls a gRPC client makes; none for nil tp.
func DialOptions(tp trace.TracerProvider) []grpc.DialOption {
	if tp == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(handlerOptions(tp)...))}
}

// Tracer starts Verdict's own spans. The zero Tracer (or a nil one)
// starts none.
type Tracer struct {
	t trace.Tracer
}

// New returns the Tracer of tp; nil for nil tp.
func New(tp trace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{t: tp.Tracer(Instrumentation)}
}

// Start starts a span named name, a child of ctx's, about the transaction
// txid ("" for none). end ends it, recording err if not nil.
func (t *Tracer) Start(ctx context.Context, name, txid string) (_ context.Context, end func(err error)) {
	if t == nil || t.t == nil {
		return ctx, func(error) {}
	}
	var opts []trace.SpanStartOption
	if txid != "" {
		opts = append(opts, trace.WithAttributes(TxidKey.String(txid)))
	}
	ctx, span := t.t.Start(ctx, name, opts...)
	return ctx, func(err error) { finish(span, err) }
}

// StartLinked starts a span named name for a call that carries several
// transactions (txids, "" for unknown ones), whose spans are refs (zero
// for those untraced): in the trace of the first traced one, linked to the
// others. ctx gives the call's deadline and cancellation.
func (t *Tracer) StartLinked(ctx context.Context, name string, refs []trace.SpanContext, txids []string) (_ context.Context, end func(err error)) {
	if t == nil || t.t == nil {
		return ctx, func(error) {}
	}
	var links []trace.Link
	parent := false
	for _, r := range refs {
		if !r.IsValid() {
			continue
		}
		if !parent {
			ctx, parent = trace.ContextWithRemoteSpanContext(ctx, r), true
			continue
		}
		links = append(links, trace.Link{SpanContext: r})
	}
	opts := []trace.SpanStartOption{trace.WithLinks(links...)}
	var ids []string
	for _, id := range txids {
		if id != "" {
			ids = append(ids, id)
		}
	}
	switch len(ids) {
	case 0:
	case 1:
		opts = append(opts, trace.WithAttributes(TxidKey.String(ids[0])))
	default:
		opts = append(opts, trace.WithAttributes(TxidsKey.StringSlice(ids)))
	}
	ctx, span := t.t.Start(ctx, name, opts...)
	return ctx, func(err error) { finish(span, err) }
}

// Batch returns, for internal/batch's Batcher.Trace, the start of a span
// named name around each batched call: StartLinked over its callers'
// spans. Nil for a nil Tracer (the Batcher traces nothing).
func (t *Tracer) Batch(name string) func(ctx context.Context, callers []context.Context) (context.Context, func(error)) {
	if t == nil || t.t == nil {
		return nil
	}
	return func(ctx context.Context, callers []context.Context) (context.Context, func(error)) {
		refs := make([]trace.SpanContext, len(callers))
		for i, c := range callers {
			refs[i] = trace.SpanContextFromContext(c)
		}
		return t.StartLinked(ctx, name, refs, nil)
	}
}

// Carry returns to with the span of from: work begun on from's behalf that
// must outlive it (to's deadline and cancellation) stays in its trace.
func Carry(from, to context.Context) context.Context {
	if sc := trace.SpanContextFromContext(from); sc.IsValid() {
		return trace.ContextWithSpanContext(to, sc)
	}
	return to
}

// Ref is the span of ctx, to link to later; zero if untraced.
func Ref(ctx context.Context) trace.SpanContext { return trace.SpanContextFromContext(ctx) }

// Annotate names the transaction of the span of ctx (a server's span of a
// call about txid).
func Annotate(ctx context.Context, txid string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(TxidKey.String(txid))
	}
}

func finish(span trace.Span, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
