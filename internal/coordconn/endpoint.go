package coordconn

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"

	"github.com/verdict-tx/verdict/internal/hostport"
)

// DefaultPort is the port of a coordinator endpoint given without one: the
// port a node serves on unless told otherwise. Without it gRPC would dial
// port 443.
const DefaultPort = "7400"

// ErrBadEndpoint is wrapped by the errors of malformed endpoints.
var ErrBadEndpoint = errors.New("verdict: bad coordinator endpoint")

// Endpoint returns a coordinator endpoint as host:port: an endpoint that
// names no port ("coord-1", "10.0.0.1", "[::1]", "::1") gets DefaultPort,
// and the result must be a valid address, returned in its canonical
// spelling (see internal/hostport: a port from 1 to 65535, a host name or
// IP address). A gRPC target with a scheme
// ("dns:///coord-1:7400", "unix:///run/verdict.sock") is returned as it is.
// Surrounding spaces are dropped; other spaces and control bytes are
// refused.
func Endpoint(ep string) (string, error) {
	ep = strings.TrimSpace(ep)
	if ep == "" {
		return "", fmt.Errorf("%w: empty", ErrBadEndpoint)
	}
	if strings.ContainsFunc(ep, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%w: %q contains a space or a control character", ErrBadEndpoint, ep)
	}
	if strings.Contains(ep, "://") || strings.HasPrefix(ep, "unix:") {
		return ep, nil
	}
	host, port, err := net.SplitHostPort(ep)
	switch {
	case strings.HasPrefix(ep, "[") && strings.HasSuffix(ep, "]"):
		host, port, err = ep[1:len(ep)-1], DefaultPort, nil
		if net.ParseIP(host) == nil {
			return "", fmt.Errorf("%w: %q is not an IPv6 address in brackets", ErrBadEndpoint, ep)
		}
	case net.ParseIP(ep) != nil, !strings.Contains(ep, ":"):
		host, port, err = ep, DefaultPort, nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadEndpoint, ep, err)
	}
	addr, err := hostport.Canonical(net.JoinHostPort(host, port))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadEndpoint, err)
	}
	return addr, nil
}
