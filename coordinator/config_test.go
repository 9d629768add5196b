package coordinator

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// configBase is the least Config that validate accepts.
func configBase(t *testing.T) Config {
	return Config{ID: 1, Peers: map[uint64]string{1: "127.0.0.1:7400"}, DataDir: t.TempDir()}
}

// A negative duration or count is refused with ErrInvalidConfig, never
// taken for the default; so are values that contradict one another.
func TestConfigNegativeRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"Retention", func(c *Config) { c.Retention = -time.Second }, "Retention -1s is negative"},
		{"StuckAfter", func(c *Config) { c.StuckAfter = -time.Second }, "StuckAfter -1s is negative"},
		{"MaxRetryBackoff", func(c *Config) { c.MaxRetryBackoff = -time.Second }, "MaxRetryBackoff -1s is negative"},
		{"DefaultTimeout", func(c *Config) { c.DefaultTimeout = -time.Second }, "DefaultTimeout -1s is negative"},
		{"MaxTimeout", func(c *Config) { c.MaxTimeout = -time.Second }, "MaxTimeout -1s is negative"},
		{"MaxStagedBytes", func(c *Config) { c.MaxStagedBytes = -1 }, "MaxStagedBytes -1 is negative"},
		{"MaxRequestBytes", func(c *Config) { c.MaxRequestBytes = -1 }, "MaxRequestBytes -1 is negative"},
		{"MaxParticipants", func(c *Config) { c.MaxParticipants = -1 }, "MaxParticipants -1 is negative"},
		{"MaxOpenPerClient", func(c *Config) { c.MaxOpenPerClient = -1 }, "MaxOpenPerClient -1 is negative"},
		{"ParticipantIdleTimeout", func(c *Config) { c.ParticipantIdleTimeout = -time.Second }, "ParticipantIdleTimeout -1s is negative"},
		{"MaxParticipantAddresses", func(c *Config) { c.MaxParticipantAddresses = -1 }, "MaxParticipantAddresses -1 is negative"},
		{"MaxConnectionsPerHost", func(c *Config) { c.MaxConnectionsPerHost = -1 }, "MaxConnectionsPerHost -1 is negative"},
		{"MaxConcurrentStreams", func(c *Config) { c.MaxConcurrentStreams = -1 }, "MaxConcurrentStreams -1 is negative"},
		{"MaxListBytes", func(c *Config) { c.MaxListBytes = -1 }, "MaxListBytes -1 is negative"},
		{"EventQueue", func(c *Config) { c.EventQueue = -1 }, "EventQueue -1 is negative"},
		{"TickInterval", func(c *Config) { c.TickInterval = -time.Millisecond }, "TickInterval -1ms is negative"},
		{"ElectionTicks", func(c *Config) { c.ElectionTicks = -1 }, "ElectionTicks -1 is negative"},
		{"no ID", func(c *Config) { c.ID = 0 }, "ID must be non-zero"},
		{"ID not in Peers", func(c *Config) { c.ID = 2 }, "Peers must include"},
		{"no DataDir", func(c *Config) { c.DataDir = "" }, "DataDir is required"},
		{"default timeout beyond max", func(c *Config) { c.DefaultTimeout = time.Hour }, "DefaultTimeout 1h0m0s exceeds MaxTimeout 10m0s"},
		{"staged bytes beyond a quarter message", func(c *Config) { c.MaxRequestBytes = 1 << 20; c.MaxStagedBytes = 512 << 10 }, "exceeds a quarter of MaxRequestBytes"},
		{"list bytes beyond a message", func(c *Config) { c.MaxRequestBytes = 1 << 20; c.MaxListBytes = 2 << 20 }, "exceeds MaxRequestBytes"},
		{"streams beyond uint32", func(c *Config) { c.MaxConcurrentStreams = 1 << 33 }, "exceeds 4294967295"},
		{"plaintext beyond loopback", func(c *Config) { c.Peers = map[uint64]string{1: "192.0.2.1:7400"} }, "refusing to serve plaintext"},
	} {
		cfg := configBase(t)
		tc.set(&cfg)
		err := cfg.validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error wrapping ErrInvalidConfig saying %q", tc.name, err, tc.want)
		}
	}
}

// Zero values take the defaults, which are the documented constants.
func TestConfigDefaults(t *testing.T) {
	cfg := configBase(t)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ID, want.Peers, want.DataDir = cfg.ID, cfg.Peers, cfg.DataDir
	want.DialOptions, want.Clock, want.Logger = cfg.DialOptions, cfg.Clock, cfg.Logger
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("validated zero Config:\n%+v\nwant DefaultConfig:\n%+v", cfg, want)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"DefaultTimeout", want.DefaultTimeout, 30 * time.Second},
		{"MaxTimeout", want.MaxTimeout, 10 * time.Minute},
		{"MaxParticipants", want.MaxParticipants, 64},
		{"MaxRequestBytes", want.MaxRequestBytes, 4 << 20},
		{"MaxConnectionsPerHost", want.MaxConnectionsPerHost, 256},
		{"MaxConcurrentStreams", want.MaxConcurrentStreams, 100},
		{"MaxListBytes", want.MaxListBytes, 32 << 10},
		{"MaxOpenPerClient", want.MaxOpenPerClient, 10000},
		{"ParticipantIdleTimeout", want.ParticipantIdleTimeout, 5 * time.Minute},
		{"MaxParticipantAddresses", want.MaxParticipantAddresses, 4096},
		{"MaxRetryBackoff", want.MaxRetryBackoff, 10 * time.Second},
		{"StuckAfter", want.StuckAfter, time.Minute},
		{"Retention", want.Retention, 15 * time.Minute},
		{"MaxStagedBytes", want.MaxStagedBytes, 1 << 20},
		{"EventQueue", want.EventQueue, 4096},
		{"TickInterval", want.TickInterval, 25 * time.Millisecond},
		{"ElectionTicks", want.ElectionTicks, 10},
		{"SnapshotEntries", want.SnapshotEntries, uint64(10000)},
		{"CompactionLag", want.CompactionLag, uint64(5000)},
	} {
		if c.got != c.want {
			t.Errorf("default %s = %v, want the documented %v", c.name, c.got, c.want)
		}
	}
}

// The defaults bounded by MaxRequestBytes follow a smaller one.
func TestConfigDefaultsFollowRequestBytes(t *testing.T) {
	cfg := configBase(t)
	cfg.MaxRequestBytes = 16 << 10
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxStagedBytes != 4<<10 || cfg.MaxListBytes != 16<<10 {
		t.Errorf("with MaxRequestBytes 16 KiB: MaxStagedBytes %d, MaxListBytes %d; want 4 KiB and 16 KiB", cfg.MaxStagedBytes, cfg.MaxListBytes)
	}
}
