package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/verdict-tx/verdict/coordinator"
)

// The flags left out take coordinator's defaults: the Config built from an
// empty command line is coordinator.DefaultConfig but for the fields that
// have no default (or no flag, which then stay zero: the default too).
func TestFlagDefaultsAreCoordinators(t *testing.T) {
	o, err := parseSettings(nil, noEnv, noHost)
	if err != nil {
		t.Fatal(err)
	}
	got, want := reflect.ValueOf(o.cfg), reflect.ValueOf(coordinator.DefaultConfig())
	for i := 0; i < got.NumField(); i++ {
		f := got.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		g, w := got.Field(i).Interface(), want.Field(i).Interface()
		switch f.Name {
		case "ID", "DataDir":
			continue // defaults of the command: node 1 in ./verdict-data
		case "MaxTimeout", "EventQueue", "SnapshotEntries", "CompactionLag":
			// No flag: zero, which Start takes for the default.
			if !got.Field(i).IsZero() {
				t.Errorf("%s = %v without a flag, want zero", f.Name, g)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("flag default of %s = %v, want coordinator's %v", f.Name, g, w)
		}
	}
}

// A negative duration or count is refused (coordinator.ErrInvalidConfig),
// not taken for the default.
func TestNegativeFlagsRefused(t *testing.T) {
	for _, flag := range []string{
		"--max-connections-per-host", "--max-concurrent-streams", "--max-list-bytes",
		"--max-participants", "--max-participant-addresses", "--max-open-per-client",
		"--max-request-bytes", "--max-staged-bytes", "--election-ticks",
	} {
		checkRefused(t, flag, "-1")
	}
	for _, flag := range []string{
		"--default-timeout", "--max-retry-backoff", "--stuck-after", "--tick",
		"--retention", "--participant-idle-timeout",
	} {
		checkRefused(t, flag, "-1s")
	}
}

// checkRefused runs verdict with flag set to v and wants ErrInvalidConfig;
// a node that starts all the same is stopped at once.
func checkRefused(t *testing.T, flag, v string) {
	t.Helper()
	err := run([]string{"--peers", "1=" + freeAddr(t), "--data-dir", t.TempDir(), flag, v, "--log-level", "error"}, func(s *coordinator.Server) { s.Stop() })
	if !errors.Is(err, coordinator.ErrInvalidConfig) {
		t.Errorf("run with %s %s = %v, want an error wrapping ErrInvalidConfig", flag, v, err)
	}
}
