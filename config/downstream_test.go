package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The downstream driver: SQLite by default when no server key is set, the
// server drivers' own defaults, and keys that do not apply to a driver.
func TestDownstreamDrivers(t *testing.T) {
	const file = "/etc/binflow/config.toml"
	tests := []struct {
		name       string
		downstream string // body of [downstream]; "-" leaves the section out
		want       Downstream
		errs       []string
	}{
		{name: "no section: sqlite next to the config", downstream: "-",
			want: Downstream{Driver: "sqlite", Path: "/etc/binflow/binflow.db"}},
		{name: "empty section: sqlite", downstream: "",
			want: Downstream{Driver: "sqlite", Path: "/etc/binflow/binflow.db"}},
		{name: "sqlite with a relative path", downstream: `path = "data/derived.db"`,
			want: Downstream{Driver: "sqlite", Path: "/etc/binflow/data/derived.db"}},
		{name: "sqlite with an absolute path", downstream: "driver = \"sqlite\"\npath = \"/var/lib/binflow/d.db\"",
			want: Downstream{Driver: "sqlite", Path: "/var/lib/binflow/d.db"}},
		{name: "user and database without host: mysql as before", downstream: "user = \"u\"\ndatabase = \"d\"",
			want: Downstream{Driver: "mysql", Host: "127.0.0.1", Port: 3306, User: "u", Database: "d"}},
		{name: "only a host: mysql, which then needs user and database", downstream: `host = "db1"`,
			errs: []string{"downstream.user: required", "downstream.database: required"}},
		{name: "postgres defaults to port 5432", downstream: "driver = \"postgres\"\nuser = \"u\"\ndatabase = \"d\"",
			want: Downstream{Driver: "postgres", Host: "127.0.0.1", Port: 5432, User: "u", Database: "d"}},
		{name: "postgres keeps an explicit port", downstream: "driver = \"postgres\"\nhost = \"pg\"\nport = 6432\nuser = \"u\"\ndatabase = \"d\"",
			want: Downstream{Driver: "postgres", Host: "pg", Port: 6432, User: "u", Database: "d"}},
		{name: "sqlite with server keys", downstream: "driver = \"sqlite\"\nhost = \"db1\"\nuser = \"u\"\ntls = \"required\"",
			errs: []string{
				`downstream.host: does not apply to driver "sqlite"`,
				`downstream.user: does not apply to driver "sqlite"`,
				`downstream.tls: does not apply to driver "sqlite"`,
			}},
		{name: "sqlite with an empty path", downstream: `path = ""`, errs: []string{"downstream.path: required"}},
		{name: "sqlite path with a question mark", downstream: `path = "a?b.db"`, errs: []string{"downstream.path: must not contain ?"}},
		{name: "path with a server driver", downstream: "driver = \"postgres\"\nuser = \"u\"\ndatabase = \"d\"\npath = \"x.db\"",
			errs: []string{`downstream.path: applies only to driver "sqlite"`}},
		{name: "path with a defaulted mysql", downstream: "user = \"u\"\ndatabase = \"d\"\npath = \"x.db\"",
			errs: []string{`downstream.path: applies only to driver "sqlite" (a database file); driver is "mysql"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "[upstream]\nuser = \"binflow\"\n"
			if tt.downstream != "-" {
				text += "[downstream]\n" + tt.downstream + "\n"
			}
			text += minimalFlows
			got, err := parse(file, text, envOf(nil))
			if len(tt.errs) > 0 {
				if err == nil {
					t.Fatalf("parse succeeded; want errors %q", tt.errs)
				}
				for _, want := range tt.errs {
					if !strings.Contains(err.Error(), file+": "+want) {
						t.Errorf("errors\n%v\ndo not include %q", err, file+": "+want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := got.Downstream
			d.Migrations, d.TLSMode = "", ""
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("downstream = %+v, want %+v", d, tt.want)
			}
			if got.Downstream.Migrations != filepath.Clean("migrations") {
				t.Errorf("downstream.migrations = %q", got.Downstream.Migrations)
			}
		})
	}
}
