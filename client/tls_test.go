package client

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// TestWithTLSRequiresNodeRole: over TLS the client talks only to servers
// whose certificate has the node role. A server with another certificate
// of the same CA (an initiator's, say) is refused at the handshake; one
// with the node role is reached (it serves no Coordinator here, so Begin
// answers Unimplemented).
func TestWithTLSRequiresNodeRole(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	serve := func(ous ...string) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer(grpc.Creds(credentials.NewTLS(ca.Server(t, "server", ous...))))
		go g.Serve(l)
		t.Cleanup(g.Stop)
		return l.Addr().String()
	}
	begin := func(addr string) error {
		cl, err := Dial([]string{addr}, WithTLS(ca.Client(t, "initiator")))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		// Generous: a busy machine may take seconds to finish a handshake.
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		_, err = cl.Begin(ctx)
		return err
	}
	if err := begin(serve("orders")); err == nil || !strings.Contains(err.Error(), "node role") {
		t.Errorf("Begin at a server without the node role: %v, want a refused handshake", err)
	}
	if err := begin(serve(tlsconf.NodeOU)); status.Code(err) != codes.Unimplemented {
		t.Errorf("Begin at a node: %v, want Unimplemented (the handshake passed)", err)
	}
}
