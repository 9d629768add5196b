// Package bearer carries Verdict's admin token: a client sends it as gRPC
// metadata "authorization: Bearer <token>" on every call; the node's auth
// interceptor reads it back.
package bearer

import (
	"context"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// Header is the metadata key of the token.
const Header = "authorization"

const scheme = "Bearer "

// Credentials sends token on every call. It is allowed over plaintext too,
// as a node on loopback serves plaintext; over a network, use TLS.
func Credentials(token string) credentials.PerRPCCredentials { return creds(token) }

type creds string

func (c creds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{Header: Value(string(c))}, nil
}

func (creds) RequireTransportSecurity() bool { return false }

// FromIncoming returns the token of an incoming call, if it carries one.
func FromIncoming(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(Header) {
		if len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) {
			return v[len(scheme):], true
		}
	}
	return "", false
}

// Value is the metadata value that carries token.
func Value(token string) string { return scheme + token }
