package hostport

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	good := map[string]string{
		"127.0.0.1:7400":               "127.0.0.1:7400",
		"127.0.0.1:07400":              "127.0.0.1:7400",
		"127.0.0.1:0000000000007400":   "127.0.0.1:7400",
		"[::1]:9000":                   "[::1]:9000",
		"[0:0::1]:9000":                "[::1]:9000",
		"[::ffff:10.0.0.1]:80":         "10.0.0.1:80",
		"[127.0.0.1]:80":               "127.0.0.1:80",
		"[fe80::1%eth0]:80":            "[fe80::1%eth0]:80",
		"Orders.Example.COM:9000":      "orders.example.com:9000",
		"orders.example.com.:9000":     "orders.example.com.:9000",
		"my_service:1":                 "my_service:1",
		"a-b:65535":                    "a-b:65535",
		"h:1":                          "h:1",
		"0x7f:1":                       "0x7f:1",
		"1.2.3.4a:1":                   "1.2.3.4a:1",
		strings.Repeat("a", 63) + ":1": strings.Repeat("a", 63) + ":1",
	}
	for in, want := range good {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "host", "127.0.0.1", ":7400", "host:", "[::1]", "[::1]:", "::1:80", "[::1",
		"127.0.0.1:notaport", "127.0.0.1:99999999", "127.0.0.1:65536", "127.0.0.1:0", "127.0.0.1:00",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:0x50", "127.0.0.1:8_0", "127.0.0.1: 80",
		"127.0.0.1:74\x0000", "host\x00:1", "ho st:1", "host\n:1", "host\x7f:1", "hôte:1",
		"-host:1", "host-:1", "host..example:1", ".host:1", "host..:1", "h/x:1", "h@x:1", "h%x:1",
		"127.000.0.1:1", "1.2.3:1", "256.0.0.1:1", "1:1", "host.123:1",
		"[fe80::1%et/h0]:80", "dns:///h:1", "unix:///tmp/s:1",
		strings.Repeat("a", 64) + ":1",
		strings.Repeat("abcdefg.", 32) + "h:1",
		strings.Repeat("a", MaxLen-1) + ":1",
	}
	for _, in := range bad {
		if got, err := Canonical(in); err == nil || !errors.Is(err, ErrBadAddress) {
			t.Errorf("Canonical(%q) = %q, %v; want an ErrBadAddress", in, got, err)
		}
	}
}

// A canonical address is its own canonical form.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"127.0.0.1:07400", "[::ffff:1.2.3.4]:1", "A.b.C:9", "h.:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Canonical(in)
		if err != nil {
			return
		}
		again, err := Canonical(c)
		if err != nil || again != c {
			t.Fatalf("Canonical(%q) = %q, whose canonical form is %q, %v", in, c, again, err)
		}
	})
}
