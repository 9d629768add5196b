package postgres

import (
	"errors"
	"strings"
	"testing"
)

func TestMakeGID(t *testing.T) {
	id := "01890a5d-ac96-774b-bcce-b302099a8057"
	gid, err := makeGID("verdict", id, "orders")
	if err != nil || gid != "verdict:"+id+":orders" {
		t.Fatalf("makeGID = %q, %v", gid, err)
	}
	if got, ok := parseGID(gid, "verdict", "orders"); !ok || got != id {
		t.Fatalf("parseGID = %q, %v", got, ok)
	}
	long := strings.Repeat("b", 64)
	if gid, err := makeGID(strings.Repeat("p", 32), id, long); err != nil || len(gid) >= 200 {
		t.Fatalf("longest gid: %d bytes, %v", len(gid), err)
	}
	for _, tc := range []struct{ prefix, id, branch string }{
		{"verdict", "x", "orders"},
		{"verdict", strings.ToUpper(id), "orders"},
		{"verdict", "4f0b4a5e-2b9e-4c1e-9a8f-3c2d1e0f9a8b", "orders"}, // UUIDv4
		{"verdict", id + "'; DROP TABLE t; --", "orders"},
		{"verdict", id, "ord'ers"},
		{"verdict", id, "a:b"},
		{"verdict", id, "a b"},
		{"verdict", id, ""},
		{"verdict", id, long + "x"},
		{"ver'dict", id, "orders"},
		{"a:b", id, "orders"},
		{"", id, "orders"},
		{strings.Repeat("p", 33), id, "orders"},
	} {
		if gid, err := makeGID(tc.prefix, tc.id, tc.branch); !errors.Is(err, ErrBadGID) {
			t.Errorf("makeGID(%q, %q, %q) = %q, %v; want ErrBadGID", tc.prefix, tc.id, tc.branch, gid, err)
		}
	}
	for _, gid := range []string{"", "a'b", strings.Repeat("a", 200), "a\\b", "a;b"} {
		if _, err := QuoteGID(gid); !errors.Is(err, ErrBadGID) {
			t.Errorf("QuoteGID(%q): %v, want ErrBadGID", gid, err)
		}
	}
	for _, gid := range []string{
		"verdict:" + id + ":orders2",
		"verdict2:" + id + ":orders",
		"verdict:x:orders",
		"verdict:" + id + ":sub:orders",
	} {
		if got, ok := parseGID(gid, "verdict", "orders"); ok {
			t.Errorf("parseGID(%q) = %q, want no match", gid, got)
		}
	}
	if got, branch, ok := ParseGID("verdict:"+id+":orders2", "verdict"); !ok || got != id || branch != "orders2" {
		t.Errorf("ParseGID = %q, %q, %v; want %s, orders2", got, branch, ok, id)
	}
	for _, gid := range []string{"verdict:" + id, "verdict:" + id + ":", "verdict:" + id + ":a:b", "other:" + id + ":orders", "verdict:x:orders"} {
		if got, branch, ok := ParseGID(gid, "verdict"); ok {
			t.Errorf("ParseGID(%q) = %q, %q; want no match", gid, got, branch)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	f := newFixture(t)
	for _, mod := range []func(*Config){
		func(c *Config) { c.Pool = nil },
		func(c *Config) { c.Branch = "" },
		func(c *Config) { c.Branch = "bad'name" },
		func(c *Config) { c.Branch = "a:b" },
		func(c *Config) { c.Prefix = "bad prefix" },
		func(c *Config) { c.MarkerTable = "Marker" },
		func(c *Config) { c.MarkerTable = "m; DROP TABLE x" },
		func(c *Config) { c.MarkerRetention = -1 },
		func(c *Config) { c.CleanInterval = -1 },
	} {
		cfg := f.config(f.branch)
		mod(&cfg)
		if _, err := New(testContext(t), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v): %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestCheckMaxPrepared(t *testing.T) {
	err := checkMaxPrepared("0")
	if !errors.Is(err, ErrPreparedDisabled) || !strings.Contains(err.Error(), "max_prepared_transactions") {
		t.Fatalf("checkMaxPrepared(0) = %v", err)
	}
	if err := checkMaxPrepared("128"); err != nil {
		t.Fatalf("checkMaxPrepared(128) = %v", err)
	}
	if err := checkMaxPrepared("many"); err == nil {
		t.Fatal("checkMaxPrepared(many) succeeded")
	}
}
