package participant

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	res := NewMemResource()
	ok := Config{Name: "inv-1.a_b", Address: "10.0.0.1:9000", Resource: res}
	tests := map[string]func(*Config){
		"empty name":        func(c *Config) { c.Name = "" },
		"long name":         func(c *Config) { c.Name = strings.Repeat("a", 65) },
		"bad name":          func(c *Config) { c.Name = "a=b" },
		"no address":        func(c *Config) { c.Address = "" },
		"address no port":   func(c *Config) { c.Address = "host" },
		"address bad port":  func(c *Config) { c.Address = "host:99999999" },
		"address NUL byte":  func(c *Config) { c.Address = "host\x00:1" },
		"no resource":       func(c *Config) { c.Resource = nil },
		"empty endpoint":    func(c *Config) { c.Coordinators = []string{""} },
		"bad endpoint port": func(c *Config) { c.Coordinators = []string{"coord-1:notaport"} },
		"negative interval": func(c *Config) { c.RecoveryInterval = -time.Second },
		"negative sweep":    func(c *Config) { c.SweepInterval = -time.Second },
		"negative slack":    func(c *Config) { c.DeadlineSlack = -time.Second },
		"negative prepares": func(c *Config) { c.MaxConcurrentPrepares = -1 },
	}
	for name, mutate := range tests {
		c := ok
		mutate(&c)
		if _, err := c.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	c, err := ok.validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.RecoveryInterval != DefaultRecoveryInterval || c.SweepInterval != DefaultSweepInterval ||
		c.DeadlineSlack != DefaultDeadlineSlack || c.MaxConcurrentPrepares != DefaultMaxConcurrentPrepares || c.Logger == nil {
		t.Errorf("defaults not filled: %+v", c)
	}
	ok.Address = "Orders.Example:09000"
	if c, err := ok.validate(); err != nil || c.Address != "orders.example:9000" {
		t.Errorf("Address %q validates to %q, %v; want orders.example:9000", ok.Address, c.Address, err)
	}
}
