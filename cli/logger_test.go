package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/binflow/binflow/config"
)

// Logs are JSON unless asked for humans, or auto on a terminal (a buffer is
// not one).
func TestNewLoggerFormats(t *testing.T) {
	tests := []struct {
		format string
		json   bool
	}{
		{config.LogFormatJSON, true},
		{config.LogFormatAuto, true},
		{"", true},
		{config.LogFormatConsole, false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var b bytes.Buffer
			log := newLogger(config.Log{Level: "info", Format: tt.format}, &b)
			log.Info().Str("flow", "f").Msg("hello")
			if got := strings.HasPrefix(b.String(), "{"); got != tt.json {
				t.Errorf("format %q wrote %q; JSON: %v, want %v", tt.format, b.String(), got, tt.json)
			}
		})
	}
}

// What binflow records downstream has the config's passwords redacted.
func TestRedactorHidesPasswords(t *testing.T) {
	cfg := &config.Config{Upstream: config.Upstream{Password: "up-Secret"}, Downstream: config.Downstream{Password: "down-Secret"}}
	got := redactor(cfg)("dial as x:up-Secret@h failed; then down-Secret, up-Secret")
	if want := "dial as x:[redacted]@h failed; then [redacted], [redacted]"; got != want {
		t.Errorf("redacted %q, want %q", got, want)
	}
	if got := redactor(&config.Config{})("no password set"); got != "no password set" {
		t.Errorf("without passwords: %q", got)
	}
}
