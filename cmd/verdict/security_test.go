package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-tx/verdict/coordinator"
)

// A node asked to serve plaintext on a non-loopback address without
// --insecure-plaintext refuses to start, before it touches its data dir.
func TestPlaintextNonLoopbackRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	err := run([]string{"--peers", "1=0.0.0.0:0", "--data-dir", dir}, nil)
	if !errors.Is(err, coordinator.ErrPlaintextNotLoopback) {
		t.Fatalf("run = %v, want %v", err, coordinator.ErrPlaintextNotLoopback)
	}
	if !strings.Contains(err.Error(), "--insecure-plaintext") || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("error %q does not name the flags that fix it", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir created by a node that refused to start: %v", err)
	}
}

func TestSecurityFlagsRefuseIncompleteInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "token")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--tls-cert", filepath.Join(dir, "node.pem")},       // no key, no CA
		{"--admin-token-file", empty},                        // empty token
		{"--admin-token-file", filepath.Join(dir, "absent")}, // unreadable
	} {
		if err := run(append(args, "--data-dir", filepath.Join(dir, "data")), nil); err == nil {
			t.Errorf("run %q started", args)
		}
	}
}
