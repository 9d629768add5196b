package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"sync"
)

// keyPair is a certificate and key loaded from files and loaded again,
// at the next handshake, once either file changes (a renewed certificate):
// a long-running node rotates its certificate without a restart. A pair
// that fails to load (say, the certificate written and the key not yet),
// or whose certificate drops a role (OU) of the one it would replace or
// names another node id (NodeID), is not taken: the current one stays, and
// the next handshake tries again.
type keyPair struct {
	certFile, keyFile string
	// report, if set, hears of every reload after the first: nil when it
	// took the new pair, else why not.
	report func(error)

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp stamp // of the files cert was loaded from
}

// stamp tells whether a pair's files changed: their modification times
// and sizes.
type stamp struct{ certMod, keyMod, certSize, keySize int64 }

func (k *keyPair) stampNow() (stamp, error) {
	cs, err := os.Stat(k.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("verdict: TLS certificate: %w", err)
	}
	ks, err := os.Stat(k.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("verdict: TLS key: %w", err)
	}
	return stamp{cs.ModTime().UnixNano(), ks.ModTime().UnixNano(), cs.Size(), ks.Size()}, nil
}

func newKeyPair(certFile, keyFile string, report func(error)) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, report: report}
	st, err := k.stampNow()
	if err != nil {
		return nil, err
	}
	if err := k.load(st); err != nil {
		return nil, err
	}
	return k, nil
}

// get returns the current pair, loading it again first if its files
// changed. Files that cannot be read now (being replaced) keep the current
// pair.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st, err := k.stampNow(); err == nil && st != k.stamp {
		err := k.load(st)
		if k.report != nil {
			k.report(err)
		}
	}
	return k.cert, nil
}

// load loads the files, stamped st; k.mu is held (or k is not shared
// yet). After a failure the stamp is not recorded, so the next handshake
// tries again.
func (k *keyPair) load(st stamp) error {
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("verdict: TLS key pair: %w", err)
	}
	if k.cert != nil {
		if err := keepsRoles(k.cert, &pair); err != nil {
			return err
		}
	}
	k.cert, k.stamp = &pair, st
	return nil
}

// keepsRoles checks that next's certificate has every role (OU) of cur's,
// and the same node id, if cur's names one.
func keepsRoles(cur, next *tls.Certificate) error {
	a, err := x509.ParseCertificate(cur.Certificate[0])
	if err != nil {
		return err
	}
	b, err := x509.ParseCertificate(next.Certificate[0])
	if err != nil {
		return fmt.Errorf("verdict: TLS certificate: %w", err)
	}
	for _, ou := range a.Subject.OrganizationalUnit {
		if !slices.Contains(b.Subject.OrganizationalUnit, ou) {
			return fmt.Errorf("verdict: renewed TLS certificate %s lacks the role %q of the current one: not taken", b.Subject.CommonName, ou)
		}
	}
	if id, err := NodeID(a); err == nil {
		if got, err := NodeID(b); err != nil || got != id {
			return fmt.Errorf("verdict: renewed TLS certificate %s does not name node id %d (%s) as the current one does: not taken", b.Subject.CommonName, id, NodeURI(id))
		}
	}
	return nil
}
