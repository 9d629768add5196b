package participant

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/hostport"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// Defaults of the Config fields left zero.
const (
	// DefaultRecoveryInterval is the period of the recovery loop.
	DefaultRecoveryInterval = 5 * time.Second
	// DefaultSweepInterval is the period of the deadline sweep.
	DefaultSweepInterval = time.Second
	// DefaultDeadlineSlack is how long past a transaction's deadline the
	// sweep waits before it aborts unprepared work. The coordinator aborts
	// at the deadline itself and tells its participants, so the sweep is
	// the backstop for when that Abort never comes; a few seconds cover
	// the clock skew between the coordinator, which set the deadline, and
	// this participant.
	DefaultDeadlineSlack = 5 * time.Second
	// DefaultMaxConcurrentPrepares is how many transactions of one Prepare
	// batch the Resource prepares at once.
	DefaultMaxConcurrentPrepares = 64
)

// ErrInvalidConfig is wrapped by the errors of NewServer for a bad Config.
var ErrInvalidConfig = errors.New("verdict: invalid participant config")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Config configures a participant Server.
type Config struct {
	// Name identifies this participant within a transaction; stable across
	// restarts. Required: 1 to 64 of [A-Za-z0-9_.-].
	Name string
	// Address is where this participant serves the Participant service
	// (host:port), as the coordinator must dial it. Sent on Enlist, in its
	// canonical spelling (see the README: participant addresses).
	// Required.
	Address string
	// Resource does the transactional work. Required. If it also
	// implements Recoverer, the recovery loop resolves what it holds
	// prepared.
	Resource Resource
	// Coordinators are coordinator endpoints (host:port; a host without a
	// port means port 7400) for the recovery loop. Optional: transactions carry their coordinators' endpoints,
	// and the loop falls back to the most recently used ones, but a
	// participant restarted with prepared work has seen none yet.
	Coordinators []string
	// RecoveryInterval is the period of the recovery loop (which also runs
	// once at Start). Default DefaultRecoveryInterval.
	RecoveryInterval time.Duration
	// SweepInterval is the period of the deadline sweep, which aborts the
	// unprepared work of transactions past their deadline. Default
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// DeadlineSlack is how long past a transaction's deadline (carried in
	// the calls made under it) the sweep waits before it aborts the work
	// this participant did for it and has not voted YES on, and fences the
	// transaction: a late Prepare votes NO and later work is refused. It
	// is room for clock skew between the coordinator and this participant:
	// set it above the skew the clocks may have. Work this participant
	// voted YES on is never aborted by the sweep. Default
	// DefaultDeadlineSlack.
	DeadlineSlack time.Duration
	// MaxConcurrentPrepares bounds how many transactions of one Prepare
	// batch from the coordinator the Resource prepares at once (each
	// Prepare of a batch runs on its own goroutine, so that one slow
	// transaction does not hold up the others). Default
	// DefaultMaxConcurrentPrepares.
	MaxConcurrentPrepares int
	// EarlyVote makes each unary call under a transaction vote with its
	// enlistment: when the handler succeeds, the Server prepares the
	// transaction's work (Resource.Prepare) before the call answers and
	// enlists with the YES, and the coordinator's Commit sends this
	// participant no Prepare: one call and its round trip less per
	// transaction, though the enlistment now follows the handler instead
	// of running beside it. Once it voted YES the transaction admits no
	// more work here (later calls are refused with FailedPrecondition), so
	// turn it on when a transaction does its work here in one call, as the
	// postgres adapter requires anyway (it prepares at the end of
	// RunInTx). A call whose handler fails, or that runs while another
	// call of the same transaction does, enlists without a vote, as
	// without EarlyVote; after a read-only vote too, and the coordinator's
	// Prepare then gets READ_ONLY unless another call came. A NO discards
	// the work and fails the call (Aborted). Once the YES may have been
	// sent this participant never decides alone: if the enlistment fails
	// (the transaction is not active at the coordinator, or the answer is
	// lost), the call fails (Unknown, or the code of the caller's
	// context), the work stays prepared, and the recovery loop settles it
	// with the transaction's outcome at its next pass (holding what the
	// work holds until then): EarlyVote needs a Resource that is a
	// Recoverer. A refusal that proves the YES uncounted (an invalid
	// request, a limit) rolls the work back, as without a vote. A
	// coordinator's Prepare that comes while a call is in progress votes
	// NO: a call is over once its status is sent, so an initiator must
	// not commit before it has received the status of every call,
	// streaming ones included. Streaming calls never vote early. With the
	// postgres adapter, a call after a read-only one must write (run
	// RunInTx): the adapter has forgotten the read-only work, and a call
	// that wrote nothing would then vote NO.
	EarlyVote bool
	// DialOptions are used to dial coordinators. Without any, connections
	// are insecure (plaintext); with some, they must carry transport
	// credentials.
	DialOptions []grpc.DialOption
	// TLS, if set, dials coordinators over TLS with it: RootCAs verify the
	// nodes, whose certificates must also carry the node role
	// (tlsconf.NodeOU); Certificates hold this participant's certificate,
	// which a node serving TLS requires. It adds the transport credentials to
	// DialOptions, which must then carry none. The Participant service that
	// the coordinator calls runs on the application's own gRPC server:
	// give that server TLS credentials that verify the coordinator's
	// client certificate. Over TLS that service answers only certificates
	// with the node role (tlsconf.NodeOU, "verdict-node"); in plaintext
	// it answers anyone who can reach the server.
	TLS *tls.Config
	// Logger receives the participant's logs. Default slog.Default().
	Logger *slog.Logger
	// TracerProvider, if set, traces the participant's calls to the
	// coordinators with OpenTelemetry: an enlistment is a child of the
	// span of the call that needed it (trace the application's gRPC
	// server with otelgrpc.NewServerHandler, with the W3C trace context
	// propagator, for that span to be the caller's), and a batch of
	// enlistments lives in the first one's trace, linked to the others.
	TracerProvider trace.TracerProvider
}

// validate fills defaults into a copy of c and rejects bad values.
func (c Config) validate() (Config, error) {
	if !nameRE.MatchString(c.Name) {
		return c, fmt.Errorf("%w: Name %q must be 1 to 64 of [A-Za-z0-9_.-]", ErrInvalidConfig, c.Name)
	}
	addr, err := hostport.Canonical(c.Address)
	if err != nil {
		return c, fmt.Errorf("%w: Address: %w", ErrInvalidConfig, err)
	}
	c.Address = addr
	if c.Resource == nil {
		return c, fmt.Errorf("%w: Resource is nil", ErrInvalidConfig)
	}
	if _, ok := c.Resource.(Recoverer); c.EarlyVote && !ok {
		return c, fmt.Errorf("%w: EarlyVote needs a Resource that is a Recoverer (prepared work whose enlistment was lost is settled by the recovery loop)", ErrInvalidConfig)
	}
	for _, ep := range c.Coordinators {
		if _, err := coordconn.Endpoint(ep); err != nil {
			return c, fmt.Errorf("%w: Coordinators: %w", ErrInvalidConfig, err)
		}
	}
	switch {
	case c.RecoveryInterval < 0:
		return c, fmt.Errorf("%w: RecoveryInterval %v is negative", ErrInvalidConfig, c.RecoveryInterval)
	case c.RecoveryInterval == 0:
		c.RecoveryInterval = DefaultRecoveryInterval
	}
	switch {
	case c.SweepInterval < 0:
		return c, fmt.Errorf("%w: SweepInterval %v is negative", ErrInvalidConfig, c.SweepInterval)
	case c.SweepInterval == 0:
		c.SweepInterval = DefaultSweepInterval
	}
	switch {
	case c.DeadlineSlack < 0:
		return c, fmt.Errorf("%w: DeadlineSlack %v is negative", ErrInvalidConfig, c.DeadlineSlack)
	case c.DeadlineSlack == 0:
		c.DeadlineSlack = DefaultDeadlineSlack
	}
	switch {
	case c.MaxConcurrentPrepares < 0:
		return c, fmt.Errorf("%w: MaxConcurrentPrepares %d is negative", ErrInvalidConfig, c.MaxConcurrentPrepares)
	case c.MaxConcurrentPrepares == 0:
		c.MaxConcurrentPrepares = DefaultMaxConcurrentPrepares
	}
	if c.TLS != nil {
		c.DialOptions = append(slices.Clone(c.DialOptions), grpc.WithTransportCredentials(credentials.NewTLS(tlsconf.DialNodes(c.TLS))))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
