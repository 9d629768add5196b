package tlsconf

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// NodeScheme is the URI scheme of a node's identity: a node certificate
// names its node id in a URI subject alternative name
// verdict-node://<id>, such as verdict-node://3 for node 3. A node takes a
// Raft message over TLS only from the id its sender's certificate names.
const NodeScheme = "verdict-node"

// ErrNoNodeID is returned by NodeID for a certificate without a node id.
var ErrNoNodeID = errors.New("verdict: the certificate names no node id (a URI subject alternative name " + NodeScheme + "://<id>)")

// NodeURI is the URI that names node id in its certificate.
func NodeURI(id uint64) *url.URL {
	return &url.URL{Scheme: NodeScheme, Host: strconv.FormatUint(id, 10)}
}

// NodeID returns the node id cert names (NodeURI): ErrNoNodeID if it names
// none; an error if it names 0, something that is not an id, or more than
// one id.
func NodeID(cert *x509.Certificate) (uint64, error) {
	if cert == nil {
		return 0, ErrNoNodeID
	}
	var id uint64
	for _, u := range cert.URIs {
		if u.Scheme != NodeScheme {
			continue
		}
		n, err := strconv.ParseUint(u.Host, 10, 64)
		if err != nil || n == 0 || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return 0, fmt.Errorf("verdict: certificate %q: %.80q is no node id (want %s://<id>, id a positive integer)", cert.Subject.CommonName, u.String(), NodeScheme)
		}
		if id != 0 && n != id {
			return 0, fmt.Errorf("verdict: certificate %q names more than one node id (%d and %d)", cert.Subject.CommonName, id, n)
		}
		id = n
	}
	if id == 0 {
		return 0, ErrNoNodeID
	}
	return id, nil
}
