package cli

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/binflow/binflow/config"
)

// Main's exit codes without any server: help, no command, an unknown
// command, an invalid config; a nil registry is an empty one.
func TestMainExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	tests := []struct {
		args []string
		want int
		says string
	}{
		{nil, exitConfig, "usage: binflow"},
		{[]string{"help"}, exitOK, "usage: binflow"},
		{[]string{"frobnicate", "-c", missing}, exitConfig, `unknown command "frobnicate"`},
		{[]string{"verify", "-c", missing}, exitConfig, "expected one flow name"},
		{[]string{"check", "-c", missing}, exitConfig, "none.toml"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if got := Main(tt.args, &stdout, &stderr, nil, Options{}); got != tt.want || !strings.Contains(stderr.String(), tt.says) {
			t.Errorf("Main(%q) = %d, stderr %q; want %d saying %q", tt.args, got, stderr.String(), tt.want, tt.says)
		}
	}
}

// migrate applies binflow's migrations, then a binary's own folders
// (Options.Migrations) relative to the config; one that does not exist is
// skipped, and downstream.migrations named again is applied once.
func TestMigrateAppliesTheBinarysOwnFolders(t *testing.T) {
	dir := t.TempDir()
	ownDir := filepath.Join(dir, "own", "sqlite")
	if err := os.MkdirAll(ownDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ownDir, "0100_mine.sql"), []byte("-- +goose Up\nCREATE TABLE mine (id INTEGER PRIMARY KEY) STRICT;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	binflowMigrations, err := filepath.Abs(filepath.Join("..", "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.toml")
	text := `[upstream]
user = "binflow"
[downstream]
driver = "sqlite"
path = "derived.db"
migrations = "` + binflowMigrations + `"
[[flows]]
name = "f"
tables = ["shop.orders"]
[[flows.functions]]
kind = "sink"
table = "mine"
key = ["id"]
`
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Migrations: []string{"own", "gone", binflowMigrations}}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"migrate", "-c", config}, &stdout, &stderr, nil, opts); code != exitOK {
		t.Fatalf("migrate exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "applied 0001_binflow_checkpoints.sql") || !strings.Contains(out, "applied 0100_mine.sql") ||
		strings.Index(out, "0001_") > strings.Index(out, "0100_") {
		t.Errorf("migrate output:\n%s", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "derived.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO mine (id) VALUES (1)"); err != nil {
		t.Errorf("the binary's own table: %v", err)
	}
	stdout.Reset()
	if code := Main([]string{"migrate", "-c", config}, &stdout, &stderr, nil, opts); code != exitOK || !strings.Contains(stdout.String(), "0 migration(s) applied") {
		t.Errorf("second migrate exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
}

// The tables binflow's upstream user must read (SELECT, which check
// reports): a flow's source tables and what its lookups read from the
// upstream, not what they read from the downstream.
func TestReadTables(t *testing.T) {
	f := config.Flow{Name: "f", Tables: []string{"shop.orders", "shop.customers"}, Functions: []config.Function{
		{Kind: config.KindLookup, Table: "crm.countries"},
		{Kind: config.KindLookup, From: config.LookupUpstream, Table: "crm.regions"},
		{Kind: config.KindLookup, From: config.LookupDownstream, Table: "derived.labels"},
		{Kind: config.KindJoin, Table: "shop.customers"},
	}}
	got := readTables(f)
	want := []string{"shop.orders", "shop.customers", "crm.countries", "crm.regions"}
	if !slices.Equal(got, want) {
		t.Errorf("readTables = %v, want %v", got, want)
	}
	if all := allReadTables(&config.Config{Flows: []config.Flow{f, {Tables: []string{"a.b"}}}}); !slices.Equal(all, append(want, "a.b")) {
		t.Errorf("allReadTables = %v", all)
	}
}
