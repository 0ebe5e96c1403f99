// Package config owns config.toml: its structure, defaults, loading (with
// passwords from the environment) and validation. Every error names the file,
// the key and what was expected.
//
// It must not connect to anything: checks that need a server (does the table
// exist, is the binlog ROW) belong to the packages that own those servers.
package config

import (
	"maps"
	"slices"
	"time"
)

// Config is the whole of config.toml.
type Config struct {
	// Path is the file the config was read from (not a TOML key).
	Path string `toml:"-"`

	Upstream   Upstream   `toml:"upstream"`
	Downstream Downstream `toml:"downstream"`
	Batch      Batch      `toml:"batch"`
	Log        Log        `toml:"log"`
	HTTP       HTTP       `toml:"http"`
	Health     Health     `toml:"health"`
	Snapshot   Snapshot   `toml:"snapshot"`
	Flows      []Flow     `toml:"flows"`
}

// Upstream is the MySQL/MariaDB server whose binlog binflow reads.
type Upstream struct {
	Flavor string `toml:"flavor"` // "mariadb" (default) or "mysql"
	Host   string `toml:"host"`   // default "127.0.0.1"
	Port   int    `toml:"port"`   // default 3306
	User   string `toml:"user"`   // required
	// Password, or PasswordEnv naming an environment variable that holds it.
	Password    string `toml:"password,omitempty"`
	PasswordEnv string `toml:"password_env,omitempty"`
	// ServerID binflow uses as a replica; must differ from every server's id.
	ServerID uint32 `toml:"server_id"` // default 1001
	// Start is where a flow without a checkpoint starts: "snapshot"
	// (default: copy the existing rows of its tables from a consistent
	// snapshot, then stream from the snapshot's position), "current" (the
	// upstream's current position, no snapshot) or "file:pos" / "file".
	Start string `toml:"start"`
	// ServerChange says what to do when checkpoints were written against
	// another server than the one binflow now reads: "refuse" (default) or
	// "gtid" (resume every flow after its checkpoint's GTID set, for moving
	// to another server of the same replication topology).
	ServerChange string `toml:"server_change"`
	// TLS of the SQL connection and the binlog stream; see TLS in tls.go.
	TLSMode       string `toml:"tls"` // "disabled" (default), "required", "skip-verify", "custom"
	TLSCA         string `toml:"tls_ca,omitempty"`
	TLSCert       string `toml:"tls_cert,omitempty"`
	TLSKey        string `toml:"tls_key,omitempty"`
	TLSServerName string `toml:"tls_server_name,omitempty"`
}

// Downstream is the SQL store derived tables and checkpoints are written to.
//
// Driver is "mysql" (MySQL or MariaDB), "postgres" or "sqlite". Left out, it
// is "mysql" when any server key (host, port, user, password, password_env,
// database, tls*) is set, and "sqlite" otherwise: a config without a
// downstream server writes to the SQLite file Path.
type Downstream struct {
	Driver      string `toml:"driver"` // see above
	Host        string `toml:"host"`   // mysql, postgres: default "127.0.0.1"
	Port        int    `toml:"port"`   // default 3306 (mysql), 5432 (postgres)
	User        string `toml:"user"`   // mysql, postgres: required
	Password    string `toml:"password,omitempty"`
	PasswordEnv string `toml:"password_env,omitempty"`
	Database    string `toml:"database"` // mysql, postgres: required
	// Path is the SQLite database file (driver "sqlite"), relative to the
	// config file's folder; default "binflow.db".
	Path string `toml:"path,omitempty"`
	// Migrations is the folder of migration files; default "migrations".
	Migrations string `toml:"migrations"`
	// TLS of the downstream connections; see TLS in tls.go.
	TLSMode       string `toml:"tls"` // "disabled" (default), "required", "skip-verify", "custom"
	TLSCA         string `toml:"tls_ca,omitempty"`
	TLSCert       string `toml:"tls_cert,omitempty"`
	TLSKey        string `toml:"tls_key,omitempty"`
	TLSServerName string `toml:"tls_server_name,omitempty"`
}

// Batch bounds how much a flow applies per downstream transaction.
type Batch struct {
	MaxRows  int      `toml:"max_rows"`  // default 5000 row changes
	MaxDelay Duration `toml:"max_delay"` // default 200ms
	// QueueTxns bounds each flow's input queue in transactions; a full queue
	// stops the binlog reader (backpressure). Default 256.
	QueueTxns int `toml:"queue_txns"`
	// RetryMax is the longest wait between retries of a failed downstream
	// write. Default 30s.
	RetryMax Duration `toml:"retry_max"`
}

// Log sets logging.
type Log struct {
	Level string `toml:"level"` // "debug", "info" (default), "warn", "error"
	// Format is "json", "console" (for humans) or "auto" (default):
	// console when stderr is a terminal, json otherwise.
	Format string `toml:"format"`
}

// HTTP is the monitoring endpoint of `binflow run`: /metrics, /healthz,
// /readyz, /status and the status page.
type HTTP struct {
	// Listen is "host:port" to serve on; "" (default) serves nothing. Port 0
	// picks a free port, logged at start.
	Listen string `toml:"listen"`
}

// Health says when binflow counts as ready (/readyz).
type Health struct {
	// MaxLag is the largest lag of any flow, in time, at which binflow is
	// still ready. Default 30s.
	MaxLag Duration `toml:"max_lag"`
	// StallAfter is how long the binlog reader may receive nothing new, not
	// even a heartbeat, before it counts as stalled (not ready). The
	// upstream is asked for a heartbeat every third of it. Default 15s.
	StallAfter Duration `toml:"stall_after"`
}

// Flow maps upstream tables to a chain of functions.
type Flow struct {
	Name      string     `toml:"name"`
	Tables    []string   `toml:"tables"` // "schema.table"
	Functions []Function `toml:"functions"`
}

// Function is one step of a flow. Kind selects which other keys apply:
//
//	filter:    expr (rows for which it is true pass; see functions.Filter)
//	project:   columns (kept, in order), rename (old -> new)
//	map:       set (column -> expression), cast (column -> type),
//	           rename (old -> new), drop (columns)
//	expand:    of (the column split into one row per element), as, format
//	           ("set", "json" or "split"), separator (split), position
//	aggregate: group_by, bucket, aggregates
//	go:        name (a function registered in Go code), params
//	sink:      table, key, mode ("upsert", default; "append"; "delete")
type Function struct {
	Kind       string            `toml:"kind"`
	Name       string            `toml:"name,omitempty"`
	Columns    []string          `toml:"columns,omitempty"`
	Rename     map[string]string `toml:"rename,omitempty"`
	GroupBy    []string          `toml:"group_by,omitempty"`
	Aggregates []Aggregate       `toml:"aggregates,omitempty"`
	Table      string            `toml:"table,omitempty"`
	Key        []string          `toml:"key,omitempty"`
	Mode       string            `toml:"mode,omitempty"`
	Params     map[string]string `toml:"params,omitempty"`
	Expr       string            `toml:"expr,omitempty"`

	// map
	Set  map[string]string `toml:"set,omitempty"`
	Cast map[string]string `toml:"cast,omitempty"`
	Drop []string          `toml:"drop,omitempty"`
	// aggregate: a time bucket of a DATETIME column as a group-by key
	Bucket Bucket `toml:"bucket,omitempty"`
	// expand
	Of        string `toml:"of,omitempty"`
	As        string `toml:"as,omitempty"`
	Format    string `toml:"format,omitempty"`
	Separator string `toml:"separator,omitempty"`
	Position  string `toml:"position,omitempty"`
	// join and lookup: Table is the upstream (join, lookup from upstream) or
	// downstream (lookup from downstream) table read, On maps the row's
	// columns to its columns, Columns are its columns added to the row,
	// Rename gives some of them other names in the row.
	On map[string]string `toml:"on,omitempty"`
	// join: the downstream table keeping the joined table's On and Columns.
	State string `toml:"state,omitempty"`
	// lookup: "upstream" (default) or "downstream"; its cache; what a row
	// without a match gets.
	From      string   `toml:"from,omitempty"`
	CacheRows int      `toml:"cache_rows,omitzero"`
	CacheTTL  Duration `toml:"cache_ttl,omitempty"`
	Missing   string   `toml:"missing,omitempty"`
}

// JoinOn returns the On pairs of a join or lookup ordered by the row's
// column: (row columns, joined table columns).
func (f *Function) JoinOn() (row, other []string) {
	for _, c := range slices.Sorted(maps.Keys(f.On)) {
		row = append(row, c)
		other = append(other, f.On[c])
	}
	return row, other
}

// JoinedNames returns the names Columns of a join or lookup get in the row.
func (f *Function) JoinedNames() []string {
	out := make([]string, len(f.Columns))
	for i, c := range f.Columns {
		out[i] = c
		if r, ok := f.Rename[c]; ok {
			out[i] = r
		}
	}
	return out
}

// Aggregate is one output column of an aggregate function.
type Aggregate struct {
	Column string `toml:"column"`       // output column name
	Func   string `toml:"func"`         // count, sum, avg, min, max, count_distinct
	Of     string `toml:"of,omitempty"` // input column (count: optional, rows where it is not NULL)
}

// Bucket groups an aggregate by the minute, hour, day or month of a DATETIME,
// TIMESTAMP or DATE column (in UTC), after its group_by columns.
type Bucket struct {
	Column string `toml:"column"`       // input column
	Every  string `toml:"every"`        // "minute", "hour", "day" or "month"
	As     string `toml:"as,omitempty"` // output column, default Column
}

// IsSet reports whether the bucket is configured.
func (b Bucket) IsSet() bool { return b != Bucket{} }

// OutputColumn is the bucket's column in the derived table.
func (b Bucket) OutputColumn() string {
	if b.As != "" {
		return b.As
	}
	return b.Column
}

// AggregateKey is the key of an aggregate's derived table: its group_by
// columns, then its bucket's output column.
func (f *Function) AggregateKey() []string {
	key := append([]string(nil), f.GroupBy...)
	if f.Bucket.IsSet() {
		key = append(key, f.Bucket.OutputColumn())
	}
	return key
}

// Duration is a time.Duration written as "200ms", "5s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
