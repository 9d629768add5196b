package main

import (
	"context"
	"fmt"
	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/tlsconf"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
)

// verdictctl reaches a TLS node with --tls-*; operator actions need
// --admin-token, $VERDICT_ADMIN_TOKEN or an admin certificate.
func TestSecurityFlags(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	const token = "s3cret-admin-token"
	addr := startNodeWith(t, func(cfg *coordinator.Config) {
		cfg.TLS = ca.Server(t, "node-1", coordinator.NodeOU)
		cfg.AdminToken = token
	})
	ep := "--endpoints=" + addr
	reader := ca.Files(t, "reader")
	readerFlags := []string{"--tls-ca", reader.CA, "--tls-cert", reader.Cert, "--tls-key", reader.Key}
	operator := ca.Files(t, "operator", coordinator.AdminOU)
	unknown, _ := txid.New()

	if code, _, errs := ctl(t, "cluster", "status", ep, "--timeout", "1s"); code != exitFailure {
		t.Errorf("cluster status in plaintext at a TLS node: exit %d (%s), want %d", code, errs, exitFailure)
	}
	if code, _, errs := ctl(t, append([]string{"cluster", "status", ep}, readerFlags...)...); code != exitOK {
		t.Fatalf("cluster status with a certificate: exit %d: %s", code, errs)
	}
	code, _, errs := ctl(t, append([]string{"tx", "retry", unknown, ep}, readerFlags...)...)
	if code != exitFailure || !strings.Contains(errs, "PermissionDenied") {
		t.Errorf("tx retry without admin credential: exit %d: %s; want %d and PermissionDenied", code, errs, exitFailure)
	}
	// Authorised, the node answers that the transaction does not exist.
	if code, _, errs := ctl(t, append([]string{"tx", "retry", unknown, ep, "--admin-token", token}, readerFlags...)...); code != exitUsage {
		t.Errorf("tx retry with --admin-token: exit %d: %s; want %d (not found)", code, errs, exitUsage)
	}
	if code, _, errs := ctl(t, "tx", "retry", unknown, ep, "--tls-ca", operator.CA, "--tls-cert", operator.Cert, "--tls-key", operator.Key); code != exitUsage {
		t.Errorf("tx retry with an admin certificate: exit %d: %s; want %d (not found)", code, errs, exitUsage)
	}
	t.Setenv(adminTokenEnv, token)
	if code, _, errs := ctl(t, append([]string{"tx", "retry", unknown, ep}, readerFlags...)...); code != exitUsage {
		t.Errorf("tx retry with $%s: exit %d: %s; want %d (not found)", adminTokenEnv, code, errs, exitUsage)
	}
	if code, _, _ := ctl(t, "cluster", "status", ep, "--tls-cert", reader.Cert); code != exitUsage {
		t.Errorf("--tls-cert without --tls-key and --tls-ca: exit %d, want %d", code, exitUsage)
	}
}

// TestLeaderMembersOverTLS: asked at a follower, the membership comes from
// the leader, dialed with the cluster's TLS (as "cluster add" does while
// it waits for the new voter); dialed without it, the leader cannot be
// reached.
func TestLeaderMembersOverTLS(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	c := startClusterWith(t, 3, func(cfg *coordinator.Config) {
		cfg.TLS = ca.Server(t, fmt.Sprintf("node-%d", cfg.ID), coordinator.NodeOU)
	})
	lead := c.leader()
	var follower string
	for id, addr := range c.peers {
		if id != lead {
			follower = addr
			break
		}
	}
	sec := security{tls: tlsconf.DialNodes(ca.Client(t, "reader"))}
	conn, err := coordconn.Dial([]string{follower}, sec.dialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testwait.For(c.t, 15*time.Second, "the leader to replicate to every member", func() bool {
		ms, err := leaderMembers(ctx, conn, sec.dialOptions()...)
		if err != nil {
			t.Fatalf("leaderMembers over TLS: %v", err)
		}
		for _, m := range ms {
			if m.GetMatchIndex() == 0 {
				return false // the leader's view has match indexes
			}
		}
		return len(ms) == 3
	})
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if _, err := leaderMembers(short, conn); err == nil {
		t.Error("leaderMembers reached the TLS leader in plaintext")
	}
}
