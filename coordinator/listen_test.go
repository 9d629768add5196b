package coordinator

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// ListenAddr is where the node listens, its Peers entry what others are
// told: plaintext is judged by the address listened on.
func TestListenAddr(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{ID: 1, Peers: map[uint64]string{1: "verdict-0.verdict:7400"}, DataDir: t.TempDir(), ListenAddr: "0.0.0.0:0", Logger: quiet}
	if _, err := Start(cfg); !errors.Is(err, ErrPlaintextNotLoopback) {
		t.Fatalf("plaintext on 0.0.0.0 without InsecurePlaintext: %v, want ErrPlaintextNotLoopback", err)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if addr := srv.Addr(); !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("listening on %s, want 127.0.0.1 with a port", addr)
	}
}

// A ListenAddr without a port takes the port of the node's Peers entry.
func TestListenAddrHostOnly(t *testing.T) {
	for listen, want := range map[string]string{"0.0.0.0": "0.0.0.0:7401", "[::]": "[::]:7401", "127.0.0.1:9": "127.0.0.1:9", "": "verdict-0.verdict:7401"} {
		c := Config{ID: 1, Peers: map[uint64]string{1: "verdict-0.verdict:7401"}, ListenAddr: listen}
		if got := c.listenAddr(); got != want {
			t.Errorf("ListenAddr %q: listen on %q, want %q", listen, got, want)
		}
	}
}
