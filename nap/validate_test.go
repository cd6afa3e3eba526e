package nap

import (
	"errors"
	"testing"
	"time"
)

func TestValidateNamesTheSetting(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("the default config refused: %v", err)
	}
	cases := []struct {
		change func(*Config)
		field  string
		msg    string
	}{
		{func(c *Config) { c.Expires = 0 }, "expires", "0: want 1..4294967295 seconds"},
		{func(c *Config) { c.Expires, c.ExpiresJitter = 60, 60 }, "expires-jitter", "60: want 0 up to --expires 60 less 1"},
		{func(c *Config) { c.T1 = 0 }, "t1", "0s: must be positive"},
		{func(c *Config) { c.Retry = -time.Second }, "retry", "-1s: must be positive"},
		{func(c *Config) { c.T2 = time.Millisecond }, "t2", "1ms: must not be below --t1 500ms"},
		{func(c *Config) { c.TimerF = 100 * time.Millisecond }, "timer-f", "100ms: must not be below --t1 500ms (RFC 3261: 64*T1)"},
		{func(c *Config) { c.Transport = 9 }, "transport", ""},
	}
	for _, k := range cases {
		c := DefaultConfig()
		k.change(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != k.field || (k.msg != "" && fe.Msg != k.msg) {
			t.Errorf("want %s %q, got %v", k.field, k.msg, err)
		}
	}
}
