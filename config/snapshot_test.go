package config

import (
	"strings"
	"testing"
)

// snapshot.method "auto" resolves by flavor; "view" is refused on MySQL,
// which cannot report the position of a consistent view.
func TestSnapshotMethod(t *testing.T) {
	for _, tt := range []struct{ flavor, method, want, err string }{
		{"mariadb", "", "view", ""},
		{"mysql", "", "windows", ""},
		{"mariadb", "windows", "windows", ""},
		{"mysql", "windows", "windows", ""},
		{"mariadb", "view", "view", ""},
		{"mysql", "view", "", `config.toml: snapshot.method: "view" needs MariaDB`},
	} {
		text := "[snapshot]\n"
		if tt.method != "" {
			text += "method = \"" + tt.method + "\"\n"
		}
		text += doc{}.String()
		text = strings.Replace(text, "[upstream]\n", "[upstream]\nflavor = \""+tt.flavor+"\"\n", 1)
		cfg, err := parse("config.toml", text, envOf(nil))
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s, method %q: error %v, want %q", tt.flavor, tt.method, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s, method %q: %v", tt.flavor, tt.method, err)
		case cfg.Upstream.Flavor != tt.flavor:
			t.Fatalf("the test's config did not set upstream.flavor %q:\n%s", tt.flavor, text)
		case cfg.SnapshotMethod() != tt.want:
			t.Errorf("%s, method %q: resolves to %q, want %q", tt.flavor, tt.method, cfg.SnapshotMethod(), tt.want)
		}
	}
}

func TestSnapshotSection(t *testing.T) {
	const f = "config.toml: "
	tests := []struct {
		name    string
		section string // the [snapshot] section's body
		want    Snapshot
		errs    []string
	}{
		{"defaults", "", Snapshot{ChunkRows: 10000, MaxRows: 50000, MaxDelay: ms(2000), ProgressInterval: ms(5000), Method: "auto"}, nil},
		{"set", "chunk_rows = 500\nmax_rows = 1000\nmax_delay = \"250ms\"\nprogress_interval = \"1s\"",
			Snapshot{ChunkRows: 500, MaxRows: 1000, MaxDelay: ms(250), ProgressInterval: ms(1000), Method: "auto"}, nil},
		{"method windows", "method = \"windows\"",
			Snapshot{ChunkRows: 10000, MaxRows: 50000, MaxDelay: ms(2000), ProgressInterval: ms(5000), Method: "windows"}, nil},
		{"method view", "method = \"view\"",
			Snapshot{ChunkRows: 10000, MaxRows: 50000, MaxDelay: ms(2000), ProgressInterval: ms(5000), Method: "view"}, nil},
		{"unknown method", "method = \"lock\"", Snapshot{}, []string{
			f + `snapshot.method: unknown snapshot method "lock"; expected one of auto, view, windows`}},
		{"empty method", "method = \"\"", Snapshot{}, []string{
			f + `snapshot.method: must not be empty; expected one of auto, view, windows`}},
		{"zero chunk_rows", "chunk_rows = 0", Snapshot{}, []string{
			f + "snapshot.chunk_rows: must be an integer from 1 to 1000000 (rows per primary-key chunk), got 0"}},
		{"huge chunk_rows", "chunk_rows = 5000000", Snapshot{}, []string{
			f + "snapshot.chunk_rows: must be an integer from 1 to 1000000 (rows per primary-key chunk), got 5000000"}},
		{"negative max_rows", "max_rows = -1", Snapshot{}, []string{
			f + "snapshot.max_rows: must be a positive integer, got -1"}},
		{"zero max_delay", "max_delay = \"0s\"", Snapshot{}, []string{
			f + `snapshot.max_delay: must be a positive duration such as "2s", got 0s`}},
		{"zero progress_interval", "progress_interval = \"0s\"", Snapshot{}, []string{
			f + `snapshot.progress_interval: must be a positive duration such as "5s", got 0s`}},
		{"unknown key", "chunk_size = 10", Snapshot{}, []string{
			f + `snapshot.chunk_size: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// [snapshot] comes first: after [[flows]] it would not be top level.
			text := "[snapshot]\n" + tt.section + "\n" + doc{}.String()
			cfg, err := parse("config.toml", text, envOf(nil))
			if tt.errs == nil {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if cfg.Snapshot != tt.want {
					t.Errorf("Snapshot = %+v, want %+v", cfg.Snapshot, tt.want)
				}
				if cfg.Upstream.Start != StartSnapshot {
					t.Errorf("upstream.start defaults to %q, want %q", cfg.Upstream.Start, StartSnapshot)
				}
				return
			}
			if err == nil {
				t.Fatalf("parse accepted [snapshot] %q", tt.section)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", err, strings.Join(tt.errs, "\n"))
			}
		})
	}
}
