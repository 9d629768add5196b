package tlsconf_test

import (
	"crypto/x509"
	"errors"
	"net/url"
	"testing"

	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// NodeID reads the node id a certificate names in its URI subject
// alternative names, and refuses none, a malformed one and two ids.
func TestNodeID(t *testing.T) {
	uris := func(ss ...string) *x509.Certificate {
		c := &x509.Certificate{}
		for _, s := range ss {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		return c
	}
	for _, tt := range []struct {
		name string
		cert *x509.Certificate
		id   uint64
		err  bool
	}{
		{"one id", uris("verdict-node://3"), 3, false},
		{"same id twice, other URIs", uris("spiffe://example/x", "verdict-node://3", "verdict-node://3/"), 3, false},
		{"two ids", uris("verdict-node://3", "verdict-node://4"), 0, true},
		{"zero", uris("verdict-node://0"), 0, true},
		{"not a number", uris("verdict-node://three"), 0, true},
		{"with a path", uris("verdict-node://3/x"), 0, true},
		{"with a query", uris("verdict-node://3?x=1"), 0, true},
		{"none", uris("spiffe://example/x"), 0, true},
		{"nil", nil, 0, true},
	} {
		id, err := tlsconf.NodeID(tt.cert)
		if id != tt.id || (err != nil) != tt.err {
			t.Errorf("%s: NodeID = %d, %v; want %d, error %v", tt.name, id, err, tt.id, tt.err)
		}
	}
	if _, err := tlsconf.NodeID(uris()); !errors.Is(err, tlsconf.ErrNoNodeID) {
		t.Errorf("NodeID without URIs: %v, want ErrNoNodeID", err)
	}
	if got := tlsconf.NodeURI(12).String(); got != "verdict-node://12" {
		t.Errorf("NodeURI(12) = %s", got)
	}

	// The test CA names the id of a node certificate for node-<id>.
	ca := testpki.NewCA(t, "verdict test CA")
	for cn, want := range map[string]uint64{"node-7": 7, "node": 0, "node-x": 0} {
		leaf, err := x509.ParseCertificate(ca.Issue(t, cn, tlsconf.NodeOU).Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := tlsconf.NodeID(leaf); id != want {
			t.Errorf("test certificate %s names node id %d, want %d", cn, id, want)
		}
	}
}
