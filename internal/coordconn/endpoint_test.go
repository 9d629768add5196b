package coordconn

import (
	"errors"
	"testing"
)

func TestEndpoint(t *testing.T) {
	ok := map[string]string{
		"localhost":             "localhost:7400",
		"coord-1":               "coord-1:7400",
		"10.0.0.1":              "10.0.0.1:7400",
		"[::1]":                 "[::1]:7400",
		"::1":                   "[::1]:7400",
		"fe80::1":               "[fe80::1]:7400",
		"localhost:7401":        "localhost:7401",
		"[::1]:7401":            "[::1]:7401",
		" coord-1:9 ":           "coord-1:9",
		"dns:///coord-1:7400":   "dns:///coord-1:7400",
		"unix:///run/v.sock":    "unix:///run/v.sock",
		"coord.example.com:443": "coord.example.com:443",
	}
	for in, want := range ok {
		got, err := Endpoint(in)
		if err != nil || got != want {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "coord-1:", "coord-1:notaport", "coord-1:0", "coord-1:65536", "coord-1:99999999", "[::1", "a b:7400", "coord\x00:7400", ":::7400:x"} {
		if got, err := Endpoint(in); !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("Endpoint(%q) = %q, %v; want ErrBadEndpoint", in, got, err)
		}
	}
}

// An endpoint without a port is dialed at DefaultPort, not at gRPC's
// default (443).
func TestDialAddsDefaultPort(t *testing.T) {
	c, err := Dial([]string{"localhost", "[::1]", "127.0.0.1:7401"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{"localhost:7400", "[::1]:7400", "127.0.0.1:7401"}
	if got := c.Endpoints(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Endpoints = %q, want %q", got, want)
	}
	if _, err := Dial([]string{"coord-1:notaport"}); !errors.Is(err, ErrBadEndpoint) {
		t.Errorf("Dial of a malformed endpoint: %v, want ErrBadEndpoint", err)
	}
}
