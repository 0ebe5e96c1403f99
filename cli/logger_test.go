package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/binflow/binflow/config"
)

// Logs are JSON unless asked for humans, or auto on a terminal; JSON
// explicitly stays JSON on a terminal.
func TestNewLoggerFormats(t *testing.T) {
	tests := []struct {
		format   string
		terminal bool
		json     bool
	}{
		{config.LogFormatJSON, false, true},
		{config.LogFormatJSON, true, true},
		{config.LogFormatAuto, false, true},
		{config.LogFormatAuto, true, false},
		{"", false, true},
		{"", true, false},
		{config.LogFormatConsole, false, false},
		{config.LogFormatConsole, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/terminal=%v", tt.format, tt.terminal), func(t *testing.T) {
			var b bytes.Buffer
			log := newLogger(config.Log{Level: "info", Format: tt.format}, &b, tt.terminal)
			log.Info().Str("flow", "f").Msg("hello")
			log.Debug().Msg("below the level")
			out := b.String()
			var line map[string]any
			isJSON := json.Unmarshal([]byte(out), &line) == nil
			if isJSON != tt.json {
				t.Fatalf("format %q, terminal %v wrote %q; JSON: %v, want %v", tt.format, tt.terminal, out, isJSON, tt.json)
			}
			if strings.Contains(out, "below the level") {
				t.Errorf("a debug line at level info: %q", out)
			}
			if isJSON {
				if line["level"] != "info" || line["flow"] != "f" || line["message"] != "hello" || line["time"] == nil {
					t.Errorf("JSON line %v", line)
				}
				return
			}
			// Console: time, level, message and fields on one line for humans.
			plain := ansi.ReplaceAllString(out, "")
			if !strings.Contains(plain, "INF hello flow=f") || strings.Count(plain, "\n") != 1 {
				t.Errorf("console line %q", plain)
			}
		})
	}
}

// ansi matches the colour codes of zerolog's console writer.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// isTerminal: a buffer and a file are not terminals.
func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(&bytes.Buffer{}) || isTerminal(f) {
		t.Error("a buffer or a regular file counted as a terminal")
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
