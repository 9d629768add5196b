package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// DefaultTimeout is the transaction timeout when none is given.
const DefaultTimeout = 30 * time.Second

// ErrInvalidOption is wrapped by the errors of invalid options.
var ErrInvalidOption = errors.New("verdict: invalid option")

type options struct {
	dialOpts   []grpc.DialOption
	timeout    time.Duration
	localBegin bool
	tp         trace.TracerProvider
}

// WithTracerProvider traces the client with OpenTelemetry: each
// transaction is a span, "verdict.tx", from Begin to Commit or Abort (a
// child of the span of Begin's context, with the txid as the attribute
// verdict.txid), and its calls to the coordinators are its children. The
// context of Tx.Context carries that span, so that the work calls made
// with it are children too when their gRPC client is traced
// (otelgrpc.NewClientHandler, with the W3C trace context propagator).
// Calls made with tx.Context(ctx) are children of the transaction's span,
// not of ctx's own. A transaction never committed or aborted (left to its
// deadline) leaves its span unended, and so not exported.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return fmt.Errorf("%w: nil TracerProvider", ErrInvalidOption)
		}
		o.tp = tp
		return nil
	}
}

// Option configures a Client.
type Option func(*options) error

// WithDialOptions sets the gRPC dial options used to reach the coordinators.
// Without any, connections are insecure (plaintext); with some, they must
// include transport credentials.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) error {
		o.dialOpts = append(o.dialOpts, opts...)
		return nil
	}
}

// WithTLS dials the coordinators over TLS with c: its RootCAs verify the
// nodes, whose certificates must also carry the node role (OU
// "verdict-node"), and its Certificates hold the client's certificate,
// which a node serving TLS requires (mutual TLS). Without WithTLS (or transport
// credentials in WithDialOptions) connections are plaintext, which a node
// serves only on loopback by default.
func WithTLS(c *tls.Config) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil TLS config", ErrInvalidOption)
		}
		o.dialOpts = append(o.dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(tlsconf.DialNodes(c))))
		return nil
	}
}

// WithDefaultTimeout sets the timeout of transactions begun without
// WithTimeout (default DefaultTimeout).
func WithDefaultTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: default timeout %v is not positive", ErrInvalidOption, d)
		}
		o.timeout = d
		return nil
	}
}

type txOptions struct {
	timeout time.Duration
}

// TxOption configures one transaction.
type TxOption func(*txOptions) error

// WithTimeout sets how long the transaction may live before the coordinator
// aborts it.
func WithTimeout(d time.Duration) TxOption {
	return func(o *txOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v is not positive", ErrInvalidOption, d)
		}
		o.timeout = d
		return nil
	}
}

// WithLocalBegin makes Begin free of a round trip once the client has
// learned the leader's term (from its first Begin, and from every Commit
// answer): it makes the transaction id itself and stamps the transaction
// with that term; the leader registers it at its first enlistment or
// Commit. A stamp of an earlier term is refused (the transaction is
// aborted) after a leader change, and the client then begins with a call
// again until it has learned the new term. Every participant must run an
// SDK that forwards the stamp (this version or later): enable it once they
// all do.
func WithLocalBegin() Option {
	return func(o *options) error {
		o.localBegin = true
		return nil
	}
}
