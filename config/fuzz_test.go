package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad: whatever the file holds, Load must not panic, every problem it
// reports must name the file and the key (or, for invalid TOML, the line),
// and a config it accepts must validate, render
// and decode exactly as the toml package would decode it.
func FuzzLoad(f *testing.F) {
	valid, err := os.ReadFile(validFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, seed := range []string{
		"",
		"[upstream]\nuser = 5\n",
		"[[flows]]\nname = \"a\"\n[[flows.functions]]\nkind = \"sink\"\n",
		"flows = [{ name = \"a\", tables = [\"s.t\"], functions = [{ kind = \"sink\", table = \"t\", key = [\"id\"] }] }]",
		"[batch]\nmax_delay = 1\nretry_max = \"1h\"\n",
		"[upstream]\nserver_id = 4294967296\nport = 1e3\n",
		"[[flows]]\n[[flows.functions]]\nrename = { \"\" = \"\" }\naggregates = [{}, { func = \"sum\" }]\n",
		"[upstream]\npassword = \"x\"\npassword_env = \"HOME\"\n",
		minimalDownstream,
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		type result struct {
			cfg *Config
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, e := Load(path)
			done <- result{c, e}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second): // generous: CI machines are shared
			t.Fatalf("Load hangs on %q", data)
		}
		cfg, err := r.cfg, r.err
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Load returned %T %v, want a non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.File != path {
					t.Fatalf("problem %q has File %q, want %q", e, e.File, path)
				}
				if e.Problem == "" {
					t.Fatalf("problem with empty text: %#v", e)
				}
				// Every rejection points somewhere: the key, or for a file
				// that is no valid TOML the line.
				if e.Key == "" && e.Line == 0 {
					t.Fatalf("problem %q names neither a key nor a line", e)
				}
			}
			if ExitCode(err) != ExitCodeInvalid {
				t.Fatalf("ExitCode = %d for %v", ExitCode(err), err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
		_ = cfg.Redacted()
		assertDecoderAgrees(t, string(data))
	})
}
