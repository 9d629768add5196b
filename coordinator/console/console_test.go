package console

import (
	"math"
	"testing"
	"time"
)

func TestLocalPath(t *testing.T) {
	for next, want := range map[string]string{
		"/transactions/x": "/transactions/x", "/transactions?stuck=1": "/transactions?stuck=1", "": "/",
		"//evil.example": "/", `/\evil.example`: "/", "/%09/evil.example": "/", "/%2F%2Fevil.example": "/",
		"https://evil.example/": "/", "javascript:alert(1)": "/", "/a/../b": "/b", "/\t/evil": "/",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestAllowedHost(t *testing.T) {
	c := &Console{auth: Auth{Hosts: []string{"verdict.example.com"}}}
	for host, want := range map[string]bool{
		"127.0.0.1:7480": true, "[::1]:7480": true, "localhost:7480": true, "10.1.2.3": true,
		"verdict.example.com:7480": true, "VERDICT.example.com": true,
		"rebind.evil:7480": false, "example.com": false,
	} {
		if got := c.allowedHost(host); got != want {
			t.Errorf("allowedHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// The percentiles are histogram_quantile's, over the observations between
// two readings; none at all is NaN, not a crash.
func TestQuantile(t *testing.T) {
	from := []Bucket{{0.001, 0}, {0.01, 0}, {0.1, 0}, {math.Inf(1), 0}}
	to := []Bucket{{0.001, 10}, {0.01, 90}, {0.1, 100}, {math.Inf(1), 100}}
	if got := quantile(0.5, from, to); math.Abs(got-0.0055) > 1e-9 {
		t.Errorf("p50 = %v, want 0.0055", got)
	}
	if got := quantile(0.99, from, to); math.Abs(got-0.091) > 1e-9 {
		t.Errorf("p99 = %v, want 0.091", got)
	}
	for _, tc := range [][2][]Bucket{{nil, nil}, {from, from}} {
		if got := quantile(0.5, tc[0], tc[1]); !math.IsNaN(got) {
			t.Errorf("no observations: %v, want NaN", got)
		}
	}
}

func TestFlashes(t *testing.T) {
	f, now := newFlashes(), time.Now()
	id := f.put("retry: Unavailable: no leader", now)
	if got := f.take(id, now); got != "retry: Unavailable: no leader" {
		t.Errorf("take = %q", got)
	}
	if got := f.take(id, now); got != "" {
		t.Errorf("a flash shown twice: %q", got)
	}
	if got := f.take("made-up", now); got != "" {
		t.Errorf("an unknown id shows %q", got)
	}
	late := f.put("x", now)
	if got := f.take(late, now.Add(2*flashLife)); got != "" {
		t.Errorf("an expired flash shows %q", got)
	}
}
