package coordinator

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// maxOperatorBytes bounds the operator name a request carries.
const maxOperatorBytes = 128

// maxAuditBytes bounds the audit identity a forwarded request carries: the
// operator name, the address and the certificate the follower saw.
const maxAuditBytes = 512

// validateOperator checks the operator name an operator's request carries.
func validateOperator(name string) error { return validateAuditText(name, maxOperatorBytes) }

func validateAuditText(name string, limit int) error {
	if len(name) > limit {
		return status.Errorf(codes.InvalidArgument, "verdict: operator name longer than %d bytes", limit)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return status.Error(codes.InvalidArgument, "verdict: operator name holds control characters")
	}
	return nil
}

// callerIdentity checks the operator name an operator's request carries
// and returns who made the request, for the audit: that name (as the
// caller says; verdictctl sends $USER), the address the request came from
// and, under TLS, the client certificate's Common Name, the identity the
// node authenticated. A request forwarded by a member node (as auth
// believes it: a node certificate under TLS, a member's IP address in
// plaintext) carries the identity the follower saw, which is kept; from
// anyone else the forwarded mark changes nothing.
func (a *auth) callerIdentity(ctx context.Context, operator string) (string, error) {
	if a.fromMember(ctx) {
		return operator, validateAuditText(operator, maxAuditBytes)
	}
	if err := validateOperator(operator); err != nil {
		return "", err
	}
	if operator == "" {
		operator = "anonymous"
	}
	addr := "unknown address"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	who := operator + " from " + addr
	if peerCert(ctx) != nil {
		who += ", certificate " + a.identity(ctx)
	}
	return who, nil
}

// operatorAction checks what an operator's action on a transaction
// carries, in this order: the transaction id, the action's own fields
// (more, if not nil), the reason; and returns who makes the action, for
// the audit (callerIdentity).
func (a *admin) operatorAction(ctx context.Context, txid, reason, operator string, more func() error) (string, error) {
	if err := validateTxid(txid); err != nil {
		return "", err
	}
	if more != nil {
		if err := more(); err != nil {
			return "", err
		}
	}
	if err := validateReason(reason); err != nil {
		return "", err
	}
	return a.fwd.auth.callerIdentity(ctx, operator)
}
