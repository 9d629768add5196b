package coordinator

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/tlsconf"
	"github.com/verdict-tx/verdict/participant"
)

// A node whose certificate is renewed on disk presents the new one on its
// next connections, as a server (to a new client) and as a client (to a
// participant it dials for the first time), without a restart; the cluster
// keeps committing.
func TestTLSCertificateRotation(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	files := map[uint64]tlsconf.Files{}
	c := newTunedCluster(t, 3, func(cfg *Config) {
		f := ca.Files(t, fmt.Sprintf("node-%d", cfg.ID), NodeOU)
		sec, err := tlsconf.ServerRotating(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		files[cfg.ID], cfg.TLS = f, sec
	})
	lead := c.leader()
	leadFiles := files[lead.Node().ID()]
	cl, err := client.Dial(c.endpoints(), client.WithTLS(ca.Client(t, "initiator")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p1, p1seen := recordingParticipant(t, ca, "p1", c.endpoints())
	p2, _ := recordingParticipant(t, ca, "p2", c.endpoints())
	ctx := callCtx(t)
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatalf("commit: %v", err)
	}
	before := serialOf(t, leadFiles.Cert)
	if got := p1seen(); got != before {
		t.Fatalf("p1 saw the leader's certificate %s, want %s", got, before)
	}

	ca.Renew(t, leadFiles, fmt.Sprintf("node-%d", lead.Node().ID()), NodeOU)
	after := serialOf(t, leadFiles.Cert)
	conn, err := tls.Dial("tcp", lead.Addr(), ca.Client(t, "client"))
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	conn.Close()
	if served != after {
		t.Errorf("after the renewal the leader serves certificate %s, want the new %s", served, after)
	}
	p3, p3seen := recordingParticipant(t, ca, "p3", c.endpoints())
	id, err := runTx(ctx, cl, p1, p3)
	if err != nil {
		t.Fatalf("commit after the renewal: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1, p3)
	if got := p3seen(); got != after {
		t.Errorf("a participant dialed after the renewal saw the leader's certificate %s, want the new %s", got, after)
	}
	noViolations(t, p1, p2, p3)
}

// recordingParticipant is a TLS participant that remembers the serial
// number of the last client certificate it verified (the coordinator's).
func recordingParticipant(t *testing.T, ca *testpki.CA, name string, coordinators []string) (*testParticipant, func() string) {
	t.Helper()
	var (
		mu   sync.Mutex
		last string
	)
	srv := ca.Server(t, name)
	srv.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			mu.Lock()
			last = cs.PeerCertificates[0].SerialNumber.String()
			mu.Unlock()
		}
		return nil
	}
	mem := participant.NewMemResource()
	p := startParticipantTLS(t, name, coordinators, mem, mem, nil, &participantTLS{srv: srv, cli: ca.Client(t, name)})
	return p, func() string {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// serialOf is the serial number of the PEM certificate in file.
func serialOf(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}
