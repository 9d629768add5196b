package main

import (
	"strings"
	"testing"
)

// Help is there for every group and command, and a newcomer can act on
// what a mistake prints: the wrong value, an example of a right one, and
// where the help is.
func TestHelpAndUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help", "cluster"}, {"cluster", "--help"}, {"tx", "--help"}, {"tx", "list", "--help"}, {"help", "tx", "forget"}, {"pg", "--help"}, {"bench", "--help"}, {"completion", "--help"}} {
		code, out, errs := ctl(t, args...)
		if code != exitOK || out == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if _, out, _ := ctl(t, "tx", "--help"); !strings.Contains(out, "list") || !strings.Contains(out, "Stuck transactions") {
		t.Errorf("tx --help lists no commands or lacks the group's notes:\n%s", out)
	}
	if _, out, _ := ctl(t, "tx", "forget", "--help"); !strings.Contains(out, "--participant") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit codes:") {
		t.Errorf("tx forget --help lacks its flags, an example or the exit codes:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"tx", "list", "--older-than", "soon"}, []string{`"soon"`, "For example: --older-than 5m", "verdictctl tx list --help"}},
		{[]string{"tx", "list", "--limit=x"}, []string{"For example: --limit 50"}},
		{[]string{"tx", "list", "--nope"}, []string{"unknown flag: --nope", "verdictctl tx list --help"}},
		{[]string{"tx", "lst"}, []string{`unknown command "lst"`, "Did you mean list?"}},
		{[]string{"clustr", "status"}, []string{`unknown command "clustr"`, "cluster"}},
	} {
		code, _, errs := ctl(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, errs)
			}
		}
	}
	if code, out, _ := ctl(t, "completion", "bash"); code != exitOK || !strings.Contains(out, "verdictctl") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// Go's flag syntax, -name, still works for long flags.
func TestSingleDashFlags(t *testing.T) {
	dead := deadEndpoint(t)
	code, _, errs := ctl(t, "-endpoints", dead, "tx", "list", "-stuck", "-timeout=500ms")
	if code != exitFailure || !strings.Contains(errs, "unreachable") {
		t.Fatalf("single-dash flags: exit %d, %q; want the cluster unreachable", code, errs)
	}
	if got := doubleDash(newRoot(new(globals), nil, nil, new(int)), []string{"-o", "json", "-stuck", "--", "-stuck"}); strings.Join(got, " ") != "-o json --stuck -- -stuck" {
		t.Errorf("doubleDash = %q", got)
	}
}
