package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }
func noHost() (string, error)     { return "", errors.New("test: no host name") }
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "verdict.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A setting comes from the command line, else the environment, else the
// config file, else the default.
func TestSettingsPrecedence(t *testing.T) {
	file := writeFile(t, "data-dir: /from/file\nstuck-after: 3m\nretention: 2h\nmax-participants: 7\ninsecure-plaintext: true\n")
	env := envOf(map[string]string{"VERDICT_CONFIG": file, "VERDICT_STUCK_AFTER": "2m", "VERDICT_RETENTION": "90m"})
	o, err := parseSettings([]string{"--retention", "1h"}, env, noHost)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	switch {
	case c.Retention != time.Hour:
		t.Errorf("retention %v: the command line must win", c.Retention)
	case c.StuckAfter != 2*time.Minute:
		t.Errorf("stuck-after %v: the environment must win over the file", c.StuckAfter)
	case c.DataDir != "/from/file" || c.MaxParticipants != 7 || !c.InsecurePlaintext:
		t.Errorf("from the file: data-dir %q, max-participants %d, insecure-plaintext %v", c.DataDir, c.MaxParticipants, c.InsecurePlaintext)
	case c.DefaultTimeout != 30*time.Second:
		t.Errorf("default-timeout %v set nowhere, want the default", c.DefaultTimeout)
	}
	// --config on the command line wins over VERDICT_CONFIG.
	other := writeFile(t, "data-dir: /other\n")
	if o, err := parseSettings([]string{"--config", other}, env, noHost); err != nil || o.cfg.DataDir != "/other" {
		t.Errorf("--config %s: data-dir %q, %v", other, o.cfg.DataDir, err)
	}
}

// Bad settings are refused, naming where they came from.
func TestSettingsErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		"bad env value":     {env: map[string]string{"VERDICT_STUCK_AFTER": "soon"}, want: `VERDICT_STUCK_AFTER="soon"`},
		"unknown file key":  {file: "data_dir: /x\n", want: `unknown setting "data_dir"`},
		"file not a map":    {file: "- data-dir\n", want: "want a mapping"},
		"file list value":   {file: "peers:\n  - 1=a:1\n", want: "want a single value"},
		"file bad value":    {file: "max-participants: many\n", want: "max-participants"},
		"version in a file": {file: "version: true\n", want: `unknown setting "version"`},
		"missing file":      {args: []string{"--config", "/nonexistent/verdict.yaml"}, want: "no such file"},
		"an argument":       {args: []string{"start"}, want: `unexpected argument "start"`},
		"two ids":           {args: []string{"--id", "2", "--id-from-hostname"}, want: "both given"},
	} {
		t.Run(name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			_, err := parseSettings(args, envOf(tc.env), noHost)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestIDFromHostname(t *testing.T) {
	host := func(h string) func() (string, error) { return func() (string, error) { return h, nil } }
	for h, want := range map[string]uint64{"verdict-0": 1, "verdict-2.verdict.ns.svc": 3, "my-coord-10": 11} {
		o, err := parseSettings([]string{"--id-from-hostname"}, noEnv, host(h))
		if err != nil || o.cfg.ID != want {
			t.Errorf("host %s: id %d, %v; want %d", h, o.cfg.ID, err, want)
		}
	}
	if _, err := parseSettings(nil, envOf(map[string]string{"VERDICT_ID_FROM_HOSTNAME": "true"}), host("verdict")); err == nil {
		t.Error("a host name without an ordinal gave an id")
	}
	// The command line wins over the environment, for the id too.
	if o, err := parseSettings([]string{"--id", "7"}, envOf(map[string]string{"VERDICT_ID_FROM_HOSTNAME": "true"}), host("verdict-0")); err != nil || o.cfg.ID != 7 {
		t.Errorf("--id 7 over VERDICT_ID_FROM_HOSTNAME: id %d, %v; want 7", o.cfg.ID, err)
	}
	if o, err := parseSettings([]string{"--id-from-hostname"}, envOf(map[string]string{"VERDICT_ID": "7"}), host("verdict-0")); err != nil || o.cfg.ID != 1 {
		t.Errorf("--id-from-hostname over VERDICT_ID: id %d, %v; want 1", o.cfg.ID, err)
	}
	if _, err := parseSettings(nil, envOf(map[string]string{"VERDICT_ID": "7", "VERDICT_ID_FROM_HOSTNAME": "true"}), host("verdict-0")); err == nil || !strings.Contains(err.Error(), "in the environment") {
		t.Errorf("both in the environment: %v, want an error naming it", err)
	}
}

func TestLogger(t *testing.T) {
	for _, f := range []string{"text", "json"} {
		if _, err := newLogger("info", f); err != nil {
			t.Errorf("--log-format %s: %v", f, err)
		}
	}
	if _, err := newLogger("info", "xml"); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("--log-format xml: %v", err)
	}
}

func TestVersionFlag(t *testing.T) {
	o, err := parseSettings([]string{"--version"}, envOf(map[string]string{"VERDICT_STUCK_AFTER": "not read"}), noHost)
	if err != nil || !o.version {
		t.Fatalf("--version: %v %+v", err, o)
	}
}

// OTLP export is on when the standard environment names an endpoint, and
// off without one or when disabled.
func TestTracerProviderFromEnvironment(t *testing.T) {
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ctx := context.Background()
	for name, tc := range map[string]struct {
		env map[string]string
		on  bool
	}{
		"no endpoint":   {env: map[string]string{}},
		"endpoint":      {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, on: true},
		"traces only":   {env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}, on: true},
		"sdk disabled":  {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_SDK_DISABLED": "true"}},
		"exporter none": {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_TRACES_EXPORTER": "none"}},
	} {
		tp, err := tracerProvider(ctx, get(tc.env), 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if (tp != nil) != tc.on {
			t.Errorf("%s: tracing on = %v, want %v", name, tp != nil, tc.on)
		}
		if tp != nil {
			_ = tp.Shutdown(ctx)
		}
	}
}

// The console is on by default for a single node only.
func TestConsoleAddr(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		members int
		want    string
	}{
		{"auto", 1, defaultConsoleAddr}, {"auto", 3, ""}, {"off", 1, ""}, {"", 1, ""},
		{"0.0.0.0:7480", 3, "0.0.0.0:7480"},
	} {
		if got := consoleAddr(tc.flag, tc.members); got != tc.want {
			t.Errorf("--console-addr %q with %d members: %q, want %q", tc.flag, tc.members, got, tc.want)
		}
	}
}
