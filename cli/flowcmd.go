package cli

// Helpers of the commands that act on one flow: rebuild, verify, reset.

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/snapshot"
)

// parseArgs parses flags wherever they stand among the positional
// arguments ("rebuild FLOW -c config.toml" as well as "rebuild -c
// config.toml FLOW"), returning the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flowCommands take exactly one flow name.
var flowCommands = map[string]string{
	"rebuild": "binflow rebuild FLOW -c config.toml",
	"verify":  "binflow verify FLOW -c config.toml",
	"reset":   "binflow reset FLOW --to FILE:POS|GTID_SET --yes -c config.toml",
}

// checkPositional checks the positional arguments of cmd, returning the
// exit code (exitOK when they are right).
func checkPositional(cmd string, positional []string, stderr io.Writer) int {
	use, ok := flowCommands[cmd]
	if !ok {
		return exitOK
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "binflow %s: expected one flow name, got %d arguments (%s)\nusage: %s\n", cmd, len(positional),
			strings.Join(positional, " "), use)
		return exitConfig
	}
	return exitOK
}

// findFlow returns the configured flow of that name.
func findFlow(cfg *config.Config, name string) (config.Flow, error) {
	var names []string
	for _, f := range cfg.Flows {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return config.Flow{}, fmt.Errorf("%s has no flow named %q (its flows: %s)", cfg.Path, name, strings.Join(names, ", "))
}

// sinkTables names the derived tables a flow writes: its sinks' tables
// and its aggregates' state tables.
func sinkTables(f config.Flow) []string {
	var tables []string
	for _, t := range functions.Tables(f) {
		tables = append(tables, t.Name)
	}
	return tables
}

// qualify names a derived table with the downstream database.
func qualify(cfg *config.Config, table string) string {
	if strings.Contains(table, ".") {
		return table
	}
	return cfg.Downstream.Database + "." + table
}

// ownedFlow finds the flow named name and checks that no other flow writes
// its derived tables: rebuild empties them, verify compares them whole.
func ownedFlow(cfg *config.Config, name string) (config.Flow, error) {
	f, err := findFlow(cfg, name)
	if err != nil {
		return f, err
	}
	mine := map[string]bool{}
	for _, t := range sinkTables(f) {
		mine[qualify(cfg, t)] = true
	}
	for _, other := range cfg.Flows {
		if other.Name == f.Name {
			continue
		}
		for _, t := range sinkTables(other) {
			if mine[qualify(cfg, t)] {
				return f, fmt.Errorf("flow %s shares its derived table %s with flow %s; rebuild and verify work on tables one flow owns", f.Name, t, other.Name)
			}
		}
	}
	return f, nil
}

// snapshotOptions reads the upstream as the binlog reader does.
func snapshotOptions(cfg *config.Config, stream canal.Options) snapshot.Options {
	u := cfg.Upstream
	return snapshot.Options{Flavor: u.Flavor, Host: u.Host, Port: u.Port, User: u.User, Password: u.Password,
		TLS: refuseOnError(cfg.UpstreamTLS()), Stream: stream}
}

// downstreamReader reads derived tables as typed rows (verify).
func downstreamReaderOptions(cfg *config.Config) snapshot.Options {
	d := cfg.Downstream
	return snapshot.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password, Database: d.Database,
		TLS: refuseOnError(cfg.DownstreamTLS())}
}
