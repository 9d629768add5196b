package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// tracerProvider exports the node's traces over OTLP/gRPC when the
// standard OpenTelemetry environment asks for it: an endpoint in
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the
// exporter reads these and the other OTEL_EXPORTER_OTLP_* variables:
// headers, TLS, timeout), unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. OTEL_TRACES_SAMPLER picks the sampler
// (default: parent-based, always on), OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES the resource (default service.name verdict,
// service.instance.id the node id). Nil when tracing is off.
func tracerProvider(ctx context.Context, getenv func(string) string, id uint64) (*sdktrace.TracerProvider, error) {
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return nil, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry OTLP exporter: %w", err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String("service.name", "verdict"), attribute.String("service.instance.id", strconv.FormatUint(id, 10))),
		resource.Environment(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
