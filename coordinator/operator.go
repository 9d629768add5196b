package coordinator

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// maxOperatorBytes bounds the operator name a request carries.
const maxOperatorBytes = 128

// validateOperator checks the operator name an operator's request carries.
func validateOperator(name string) error {
	if len(name) > maxOperatorBytes {
		return status.Errorf(codes.InvalidArgument, "verdict: operator name longer than %d bytes", maxOperatorBytes)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return status.Error(codes.InvalidArgument, "verdict: operator name holds control characters")
	}
	return nil
}

// callerIdentity is who made an operator's request, for the audit: the
// operator name it carries (as the caller says; verdictctl sends $USER)
// and the address it came from. A request a follower forwarded carries
// the identity the follower saw, which is kept.
func callerIdentity(ctx context.Context, operator string) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(mdForwarded)) > 0 {
		return operator
	}
	addr := "unknown address"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	if operator == "" {
		return "anonymous from " + addr
	}
	return operator + " from " + addr
}
