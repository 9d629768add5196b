package txlog

import (
	"testing"
	"time"
)

// A negative tick interval or tick count is refused, not taken for the
// default; zero takes it.
func TestConfigNegativeTicksRefused(t *testing.T) {
	base := func() Config {
		return Config{ID: 1, Peers: map[uint64]string{1: "127.0.0.1:7400"}, DataDir: t.TempDir(), StateMachine: &listSM{}}
	}
	for name, set := range map[string]func(*Config){
		"TickInterval":   func(c *Config) { c.TickInterval = -time.Millisecond },
		"ElectionTicks":  func(c *Config) { c.ElectionTicks = -1 },
		"HeartbeatTicks": func(c *Config) { c.HeartbeatTicks = -1 },
	} {
		cfg := base()
		set(&cfg)
		if err := cfg.validate(); err == nil {
			t.Errorf("%s negative: accepted", name)
		}
	}
	cfg := base()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.TickInterval != DefaultTickInterval || cfg.ElectionTicks != DefaultElectionTicks || cfg.SnapshotEntries != DefaultSnapshotEntries || cfg.CompactionLag != DefaultCompactionLag {
		t.Errorf("defaults: tick %v, election %d, snapshot %d, lag %d", cfg.TickInterval, cfg.ElectionTicks, cfg.SnapshotEntries, cfg.CompactionLag)
	}
}
