package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.modified", Value: "true"},
		{Key: "vcs.time", Value: "2026-12-07T17:00:00Z"},
	}}
	if got, want := describe("verdict", bi), "verdict v0.3.0 (0123456789ab, modified, 2026-12-07T17:00:00Z) go1.26.0"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	bare := &debug.BuildInfo{GoVersion: "go1.26.0"}
	if got, want := describe("verdictctl", bare), "verdictctl (devel) go1.26.0"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if s := String("verdict"); !strings.HasPrefix(s, "verdict ") {
		t.Errorf("String = %q", s)
	}
}
