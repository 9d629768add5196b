package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// keyPair is a certificate and key loaded from files and loaded again,
// at the next handshake, once either file changes (a renewed certificate):
// a long-running node rotates its certificate without a restart. A pair
// that fails to load (say, the certificate written and the key not yet),
// or whose certificate drops a role (OU) of the one it would replace, is
// not taken: the current one stays, and the next handshake tries again.
type keyPair struct {
	certFile, keyFile string

	// report, if set, hears of every reload after the first: nil when it
	// took the new pair, else why not.
	report func(error)

	mu                sync.Mutex
	cert              *tls.Certificate
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newKeyPair(certFile, keyFile string, report func(error)) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, report: report}
	if err := k.reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// get returns the current pair, reloading it first if its files changed.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.changed() {
		err := k.reload()
		if k.report != nil {
			k.report(err)
		}
	}
	return k.cert, nil
}

// changed reports whether either file's modification time or size differs
// from the loaded pair's. k.mu is held.
func (k *keyPair) changed() bool {
	cs, err1 := os.Stat(k.certFile)
	ks, err2 := os.Stat(k.keyFile)
	if err1 != nil || err2 != nil {
		return false // being replaced: keep the current pair
	}
	return !cs.ModTime().Equal(k.certMod) || !ks.ModTime().Equal(k.keyMod) ||
		cs.Size() != k.certSize || ks.Size() != k.keySize
}

// reload loads the files; k.mu is held (or k is not shared yet). After a
// failure the file times are not recorded, so the next handshake tries
// again.
func (k *keyPair) reload() error {
	cs, err := os.Stat(k.certFile)
	if err != nil {
		return fmt.Errorf("verdict: TLS certificate: %w", err)
	}
	ks, err := os.Stat(k.keyFile)
	if err != nil {
		return fmt.Errorf("verdict: TLS key: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("verdict: TLS key pair: %w", err)
	}
	if k.cert != nil {
		if err := keepsRoles(k.cert, &pair); err != nil {
			return err
		}
	}
	k.cert = &pair
	k.certMod, k.keyMod = cs.ModTime(), ks.ModTime()
	k.certSize, k.keySize = cs.Size(), ks.Size()
	return nil
}

// keepsRoles checks that next's certificate has every role (OU) of cur's.
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
	return nil
}
