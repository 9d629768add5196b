package main

import (
	"flag"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// deadEndpoint returns an address nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitCodes runs commands that need no cluster, or find none, and
// checks the exit code each deserves.
func TestExitCodes(t *testing.T) {
	dead := "--endpoints=" + deadEndpoint(t)
	tests := []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"help"}, exitOK},
		{[]string{"-h"}, exitOK},
		{[]string{"help", "tx", "list"}, exitOK},
		{[]string{"help", "nope"}, exitUsage},
		{[]string{"tx", "show", "-h"}, exitOK},
		{[]string{"nonsense"}, exitUsage},
		{[]string{"tx"}, exitUsage},
		{[]string{"tx", "list", "--no-such-flag"}, exitUsage},
		{[]string{"tx", "list", "-o", "yaml"}, exitUsage},
		{[]string{"tx", "list", "--timeout", "0s"}, exitUsage},
		{[]string{"tx", "list", "--endpoints", " , "}, exitUsage},
		{[]string{"tx", "list", "--state", "stuck"}, exitUsage},
		{[]string{"tx", "list", "--limit", "0"}, exitUsage},
		{[]string{"tx", "list", "--after", "x"}, exitUsage},
		{[]string{"tx", "list", "extra"}, exitUsage},
		{[]string{"tx", "show"}, exitUsage},
		{[]string{"tx", "show", "a", "b"}, exitUsage},
		{[]string{"tx", "show", "not-a-uuid"}, exitUsage},
		{[]string{"tx", "show", "01936B2A-0000-7000-8000-000000000001"}, exitUsage}, // not canonical
		{[]string{"tx", "retry"}, exitUsage},
		{[]string{"tx", "retry", "not-a-uuid"}, exitUsage},
		{[]string{"tx", "list", "--stuck=maybe"}, exitUsage},
		{[]string{"tx", "list", "--older-than", "-1s"}, exitUsage},
		{[]string{"tx", "list", "--older-than", "soon"}, exitUsage},
		{[]string{"tx", "abort"}, exitUsage},
		{[]string{"tx", "abort", "not-a-uuid"}, exitUsage},
		{[]string{"tx", "forget", "01936b2a-0000-7000-8000-000000000001", "--reason", "x"}, exitUsage},
		{[]string{"tx", "forget", "01936b2a-0000-7000-8000-000000000001", "--participant", "p", "--reason", " "}, exitUsage},
		{[]string{"tx", "forget", "not-a-uuid", "--participant", "p", "--reason", "x"}, exitUsage},
		{[]string{"pg", "prepared"}, exitUsage},
		{[]string{"pg", "prepared", "--dsn", "::not a dsn::"}, exitUsage},
		{[]string{"pg", "prepared", "--dsn", "postgres://postgres@" + deadEndpoint(t) + "/x", "--timeout", "500ms"}, exitFailure},
		{[]string{"cluster", "status", "extra"}, exitUsage},
		{[]string{"bench", "--concurrency", "0"}, exitUsage},
		{[]string{"bench", "--duration", "0s"}, exitUsage},
		{[]string{"bench", "--duration", "2s", "--min-commits", "1", "--max-duration", "1s"}, exitUsage},
		{[]string{"bench", "--participants", "65"}, exitUsage},
		// Nothing answers: the cluster is unreachable.
		{[]string{"cluster", "status", dead, "--timeout", "500ms"}, exitFailure},
		{[]string{"tx", "list", dead, "--timeout", "500ms"}, exitFailure},
		{[]string{dead, "--timeout=500ms", "tx", "show", "01936b2a-0000-7000-8000-000000000001"}, exitFailure},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := ctl(t, tc.args...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, out, errs)
			}
			if code != exitOK && errs == "" {
				t.Errorf("exit %d with nothing on stderr", code)
			}
		})
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	code, out, _ := ctl(t, "help")
	if code != exitOK {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"Exit codes:", "0  success", "1  failure", "2  bad usage", "3  pg prepared --resolve", "cluster status", "tx abort TXID", "tx forget TXID", "pg prepared", "tx list", "tx show TXID", "bench", "--endpoints", "--output"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// TestFlagPlacement checks that global and command flags are accepted
// before the command words, between them and the arguments, and after.
func TestFlagPlacement(t *testing.T) {
	tests := []struct {
		args           []string
		wantPositional []string
		wantOutput     string
		wantEndpoints  string
	}{
		{[]string{"tx", "show", "ID", "-o", "json"}, []string{"ID"}, "json", "127.0.0.1:7400"},
		{[]string{"tx", "show", "-o", "json", "ID"}, []string{"ID"}, "json", "127.0.0.1:7400"},
		{[]string{"--endpoints=a:1", "tx", "show", "ID"}, []string{"ID"}, "table", "a:1"},
		{[]string{"-o", "json", "tx", "show", "--endpoints", "b:2", "ID", "--output=table"}, []string{"ID"}, "table", "b:2"},
		{[]string{"tx", "show", "--", "-x"}, []string{"-x"}, "table", "127.0.0.1:7400"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got []string
			var g globals
			spy := &command{words: []string{"tx", "show"}, setup: func(fs *flag.FlagSet) func(*env, []string) int {
				return func(e *env, args []string) int {
					got, g = args, e.globals
					return exitOK
				}
			}}
			saved := commands
			commands = []*command{spy}
			t.Cleanup(func() { commands = saved })
			if code := run(tc.args, io.Discard, io.Discard); code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if !slices.Equal(got, tc.wantPositional) || g.output != tc.wantOutput || g.endpoints != tc.wantEndpoints {
				t.Errorf("got args %q output %q endpoints %q; want %q %q %q", got, g.output, g.endpoints, tc.wantPositional, tc.wantOutput, tc.wantEndpoints)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{850 * time.Millisecond, "850ms"},
		{12340 * time.Millisecond, "12.3s"},
		{3*time.Minute + 4*time.Second, "3m4s"},
		{2*time.Hour + 5*time.Minute + 10*time.Second, "2h5m"},
	}
	for _, tc := range tests {
		if got := ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\tc", 0); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine("abcdef", 4); got != "abc…" {
		t.Errorf("oneLine cut = %q", got)
	}
}
