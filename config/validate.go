package config

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Upstream flavors.
const (
	FlavorMariaDB = "mariadb"
	FlavorMySQL   = "mysql"
)

// Downstream drivers.
const (
	DriverMySQL    = "mysql"
	DriverPostgres = "postgres"
	DriverSQLite   = "sqlite"
)

// Upstream.ServerChange policies.
const (
	ServerChangeRefuse = "refuse"
	ServerChangeGTID   = "gtid"
)

// StartCurrent is Upstream.Start for "the upstream's current position";
// StartSnapshot for "snapshot the flow's tables, then stream from there".
const (
	StartCurrent  = "current"
	StartSnapshot = "snapshot"
)

// Function kinds.
const (
	KindProject   = "project"
	KindAggregate = "aggregate"
	KindGo        = "go"
	KindSink      = "sink"
	KindFilter    = "filter"
	KindMap       = "map"
	KindExpand    = "expand"
	KindJoin      = "join"
	KindLookup    = "lookup"
)

// Lookup sources and what a row without a match gets.
const (
	LookupUpstream   = "upstream"
	LookupDownstream = "downstream"
	MissingNull      = "null"
	MissingDrop      = "drop"
	MissingFail      = "fail"
)

// Aggregate funcs.
const (
	AggregateCount         = "count"
	AggregateSum           = "sum"
	AggregateAvg           = "avg"
	AggregateMin           = "min"
	AggregateMax           = "max"
	AggregateCountDistinct = "count_distinct"
)

// Sink modes: ModeUpsert replaces rows by key (deleting the rows whose
// source row is gone), ModeAppend appends one row per change to a history
// table, ModeDelete deletes the key of every row that reaches it.
const (
	ModeUpsert = "upsert"
	ModeAppend = "append"
	ModeDelete = "delete"
)

// Columns an append sink writes besides the row's own: the change (insert,
// update or delete), the binlog position just after its upstream transaction
// (file and offset), the number of the row within what the sink appended for
// that transaction, and the transaction's commit time. AppendKey is the
// history table's primary key.
const (
	AppendOp         = "op"
	AppendFile       = "binlog_file"
	AppendPos        = "binlog_pos"
	AppendRow        = "binlog_row"
	AppendCommitTime = "commit_time"
)

// AppendKey is the primary key of an append sink's table.
func AppendKey() []string { return []string{AppendFile, AppendPos, AppendRow} }

// StateCountColumn is the count column of an aggregate's state tables (see
// functions.StateTable).
const StateCountColumn = "n"

// Expand formats.
const (
	ExpandSet   = "set"   // a SET value or any comma-separated list
	ExpandJSON  = "json"  // a JSON array
	ExpandSplit = "split" // a list with the given separator
)

// castType is the syntax of map's cast types.
var castType = regexp.MustCompile(`^(int|uint|float|string|date|datetime|decimal|decimal\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\))$`)

// Log formats.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
	LogFormatAuto    = "auto" // console on a terminal, json otherwise
)

var (
	flavors       = []string{FlavorMariaDB, FlavorMySQL}
	drivers       = []string{DriverMySQL, DriverPostgres, DriverSQLite}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{LogFormatJSON, LogFormatConsole, LogFormatAuto}
	functionKinds = []string{KindFilter, KindProject, KindMap, KindExpand, KindLookup, KindJoin, KindAggregate, KindGo, KindSink}
	lookupSources = []string{LookupUpstream, LookupDownstream}
	missingRules  = []string{MissingNull, MissingDrop, MissingFail}
	sinkModes     = []string{ModeUpsert, ModeAppend, ModeDelete}
	aggregateFns  = []string{AggregateCount, AggregateSum, AggregateAvg, AggregateMin, AggregateMax, AggregateCountDistinct}
	bucketUnits   = []string{"minute", "hour", "day", "month"}
	expandFormats = []string{ExpandSet, ExpandJSON, ExpandSplit}
	serverChanges = []string{ServerChangeRefuse, ServerChangeGTID}

	// functionKeys lists, per kind, the keys of a [[flows.functions]] entry
	// that mean something for it; any other key set is a mistake.
	functionKeys = map[string][]string{
		KindFilter:    {"kind", "expr"},
		KindProject:   {"kind", "columns", "rename"},
		KindMap:       {"kind", "set", "cast", "rename", "drop"},
		KindExpand:    {"kind", "of", "as", "format", "separator", "position"},
		KindAggregate: {"kind", "group_by", "bucket", "aggregates"},
		KindGo:        {"kind", "name", "params"},
		KindSink:      {"kind", "table", "key", "mode"},
		KindJoin:      {"kind", "table", "on", "columns", "rename", "state"},
		KindLookup:    {"kind", "from", "table", "on", "columns", "rename", "cache_rows", "cache_ttl", "missing"},
	}

	// flowNamePattern keeps flow names usable as checkpoint-table keys and
	// in metrics labels.
	flowNamePattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// maxIdentifierLen is MySQL's limit for database and table names, in characters.
const maxIdentifierLen = 64

// Validate reports every problem with c as an Errors value, or nil. Load
// already calls it; call it again after changing a Config in code.
func (c *Config) Validate() error {
	es := c.validate(nil)
	if len(es) == 0 {
		return nil
	}
	return es
}

// validate collects the problems of c. isSet reports whether the file set a
// key; nil (a Config built in code) treats non-zero fields as set.
func (c *Config) validate(isSet func(key string) bool) Errors {
	v := &validator{problems: problems{file: c.Path}, isSet: isSet}
	v.upstream(&c.Upstream)
	v.downstream(&c.Downstream)
	v.batch(&c.Batch)
	v.log(&c.Log)
	v.http(&c.HTTP)
	v.health(&c.Health)
	v.snapshot(&c.Snapshot, c.Upstream.Flavor)
	v.flows(c.Flows)
	return v.errs
}

type validator struct {
	problems
	isSet func(key string) bool
}

func (v *validator) upstream(u *Upstream) {
	v.oneOf("upstream.flavor", "flavor", u.Flavor, flavors)
	v.required("upstream.host", u.Host, "the upstream server's host name or address")
	v.port("upstream.port", u.Port)
	v.required("upstream.user", u.User, "the MySQL user binflow replicates as")
	switch {
	case u.ServerID == 0:
		v.add("upstream.server_id", "must be a positive integer, got 0")
	case u.ServerID > MaxServerID:
		v.add("upstream.server_id", "must be at most %d (binflow's secondary binlog connections use random server_ids above it), got %d", MaxServerID, u.ServerID)
	}
	if _, _, _, err := ParseStart(u.Start); err != nil {
		v.add("upstream.start", "%v", err)
	}
	v.oneOf("upstream.server_change", "server change policy", u.ServerChange, serverChanges)
	v.tls("upstream", u.TLS())
}

func (v *validator) downstream(d *Downstream) {
	v.oneOf("downstream.driver", "driver", d.Driver, drivers)
	if d.Driver == DriverSQLite {
		v.sqliteDownstream(d)
		return
	}
	if v.keySet("downstream.path", d.Path != "") {
		v.add("downstream.path", "applies only to driver \"sqlite\" (a database file); driver is %q: remove path", d.Driver)
	}
	v.required("downstream.host", d.Host, "the downstream server's host name or address")
	v.port("downstream.port", d.Port)
	v.required("downstream.user", d.User, "the user binflow writes derived tables as")
	if v.required("downstream.database", d.Database, "the database derived tables and checkpoints go to") {
		if problem := identifierProblem(d.Database); problem != "" {
			v.add("downstream.database", "%s, got %q", problem, d.Database)
		}
	}
	v.required("downstream.migrations", d.Migrations, "the folder of migration files")
	v.tls("downstream", d.TLS())
}

// sqliteDownstream validates [downstream] for a SQLite file: a path, and
// none of the keys of a server.
func (v *validator) sqliteDownstream(d *Downstream) {
	if v.required("downstream.path", d.Path, "the SQLite database file derived tables and checkpoints go to") &&
		strings.ContainsAny(d.Path, "?#\x00") {
		v.add("downstream.path", "must not contain ?, # or a NUL byte, got %q", d.Path)
	}
	set := map[string]bool{"host": d.Host != "", "port": d.Port != 0, "user": d.User != "", "password": d.Password != "",
		"password_env": d.PasswordEnv != "", "database": d.Database != "", "tls": d.TLSMode != "" && d.TLSMode != DefaultTLS,
		"tls_ca": d.TLSCA != "", "tls_cert": d.TLSCert != "", "tls_key": d.TLSKey != "", "tls_server_name": d.TLSServerName != ""}
	for _, k := range downstreamServerKeys {
		if v.keySet("downstream."+k, set[k]) {
			v.add("downstream."+k, "does not apply to driver \"sqlite\", which writes the file downstream.path; remove it, or set driver = \"mysql\" or \"postgres\"")
		}
	}
	v.required("downstream.migrations", d.Migrations, "the folder of migration files")
}

// keySet reports whether the file set key; for a Config built in code (no
// isSet), whether its field is non-zero.
func (v *validator) keySet(key string, nonZero bool) bool {
	if v.isSet != nil {
		return v.isSet(key)
	}
	return nonZero
}

func (v *validator) batch(b *Batch) {
	v.positive("batch.max_rows", b.MaxRows)
	v.positive("batch.queue_txns", b.QueueTxns)
	if b.MaxDelay.Duration <= 0 {
		v.add("batch.max_delay", `must be a positive duration such as "200ms", got %s`, b.MaxDelay.Duration)
	}
	if b.RetryMax.Duration <= 0 {
		v.add("batch.retry_max", `must be a positive duration such as "30s", got %s`, b.RetryMax.Duration)
	}
}

func (v *validator) log(l *Log) {
	v.oneOf("log.level", "level", l.Level, logLevels)
	v.oneOf("log.format", "format", l.Format, logFormats)
}

func (v *validator) http(h *HTTP) {
	if h.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || strings.ContainsAny(host, " \t\n/") {
		v.add("http.listen", `must be "host:port" such as "127.0.0.1:9180" (port 0 picks a free one), or "" to serve nothing, got %q`, h.Listen)
	}
}

func (v *validator) health(h *Health) {
	if h.MaxLag.Duration <= 0 {
		v.add("health.max_lag", `must be a positive duration such as "30s", got %s`, h.MaxLag.Duration)
	}
	if h.StallAfter.Duration < MinStallAfter {
		v.add("health.stall_after", `must be at least %s (the upstream is asked for a heartbeat every third of it), got %s`, MinStallAfter, h.StallAfter.Duration)
	}
}

func (v *validator) flows(flows []Flow) {
	if len(flows) == 0 {
		v.add("flows", "at least one [[flows]] entry is required")
		return
	}
	firstWithName := map[string]int{}
	for i := range flows {
		key := fmt.Sprintf("flows[%d]", i)
		f := &flows[i]
		switch {
		case f.Name == "":
			v.add(key+".name", "required: a unique name of letters, digits and _ (it keys the flow's checkpoint)")
		case !flowNamePattern.MatchString(f.Name):
			v.add(key+".name", "must be 1 to 64 letters, digits or _ (it keys the flow's checkpoint), got %q", f.Name)
		default:
			if first, dup := firstWithName[f.Name]; dup {
				v.add(key+".name", "flow name %q is already used by flows[%d]", f.Name, first)
			} else {
				firstWithName[f.Name] = i
			}
		}
		v.tables(key+".tables", f.Tables)
		v.functions(i, f.Functions, f.Tables)
	}
}

func (v *validator) tables(key string, tables []string) {
	if len(tables) == 0 {
		v.add(key, `at least one source table ("schema.table") is required`)
		return
	}
	seen := map[string]bool{}
	for j, table := range tables {
		tableKey := fmt.Sprintf("%s[%d]", key, j)
		schema, name, ok := strings.Cut(table, ".")
		if !ok || strings.Contains(name, ".") {
			v.add(tableKey, `must be "schema.table", got %q`, table)
			continue
		}
		if v.qualifiedName(tableKey, table, schema, name) {
			if seen[table] {
				v.add(tableKey, "table %q is listed twice", table)
			}
			seen[table] = true
		}
	}
}

// qualifiedName checks both parts of a database.table name and reports
// whether they are fine.
func (v *validator) qualifiedName(key, whole, database, table string) bool {
	for _, part := range []struct{ what, name string }{{"schema", database}, {"table", table}} {
		if problem := identifierProblem(part.name); problem != "" {
			v.add(key, "%s name %s, got %q", part.what, problem, whole)
			return false
		}
	}
	return true
}

func (v *validator) functions(flow int, functions []Function, tables []string) {
	key := fmt.Sprintf("flows[%d].functions", flow)
	if len(functions) == 0 {
		v.add(key, "at least one function is required, and the last must be a sink")
		return
	}
	sinkTables := map[string]int{}
	for j := range functions {
		fn := &functions[j]
		fnKey := functionKey(flow, j)
		last := j == len(functions)-1
		switch {
		case fn.Kind == "":
			v.add(fnKey+".kind", "required; expected one of %s", strings.Join(functionKinds, ", "))
			continue
		case functionKeys[fn.Kind] == nil:
			v.add(fnKey+".kind", "unknown function kind %q; expected one of %s", fn.Kind, strings.Join(functionKinds, ", "))
			continue
		case fn.Kind == KindSink && !last && j > 0 && functions[j-1].Kind == KindAggregate:
			v.add(fnKey+".kind", "an aggregate's sink must be the last function of a flow (an aggregate passes no rows on), but %d more follow it", len(functions)-1-j)
		case fn.Kind != KindSink && last:
			v.add(fnKey+".kind", "the last function of a flow must be a sink, got %q", fn.Kind)
		case fn.Kind == KindAggregate && functions[j+1].Kind != KindSink:
			v.add(functionKey(flow, j+1)+".kind", "an aggregate must be followed by its sink (the derived table), got %q", functions[j+1].Kind)
		case fn.Kind == KindJoin && (functions[j+1].Kind != KindSink || (functions[j+1].Mode != ModeUpsert && functions[j+1].Mode != "")):
			v.add(functionKey(flow, j+1)+".kind", "a join must be followed by its sink in upsert mode (the joined table's changes update that table in place), got %q", functions[j+1].Kind)
		}
		v.irrelevantKeys(fnKey, fn)

		switch fn.Kind {
		case KindFilter:
			v.required(fnKey+".expr", fn.Expr, "an expression over the row's columns that is true for rows to keep")
		case KindProject:
			v.project(fnKey, fn)
		case KindMap:
			v.mapFunction(fnKey, fn)
		case KindExpand:
			v.expand(fnKey, fn)
		case KindAggregate:
			v.aggregate(fnKey, fn)
		case KindGo:
			v.required(fnKey+".name", fn.Name, "the name the Go function is registered under")
		case KindJoin, KindLookup:
			v.joinOrLookup(fnKey, fn, tables)
		case KindSink:
			var previous *Function
			if j > 0 {
				previous = &functions[j-1]
			}
			v.sink(fnKey, fn, previous)
			// Two sinks of one flow writing one table would each coalesce
			// by key without seeing the other's writes.
			if fn.Table != "" {
				if first, dup := sinkTables[fn.Table]; dup {
					v.add(fnKey+".table", "table %q is already written by functions[%d] of this flow; a flow writes each table once", fn.Table, first)
				} else {
					sinkTables[fn.Table] = j
				}
			}
		}
	}
}

// joinOrLookup checks what a join or lookup reads and adds. A join reads
// one of the flow's tables (the flow's other tables give the rows it
// enriches); a lookup reads a table no flow row comes from.
func (v *validator) joinOrLookup(fnKey string, fn *Function, tables []string) {
	if fn.Kind == KindLookup {
		if fn.From != "" {
			v.oneOf(fnKey+".from", "source", fn.From, lookupSources)
		}
		if fn.Missing != "" {
			v.oneOf(fnKey+".missing", "rule", fn.Missing, missingRules)
		}
		if fn.CacheRows < 0 {
			v.add(fnKey+".cache_rows", "must be 0 (no cache) or a positive number of rows, got %d", fn.CacheRows)
		}
		if fn.CacheTTL.Duration < 0 {
			v.add(fnKey+".cache_ttl", "must not be negative, got %s", fn.CacheTTL.Duration)
		}
	}
	if v.required(fnKey+".table", fn.Table, `the table to read, "database.table"`) {
		database, table, qualified := strings.Cut(fn.Table, ".")
		switch {
		case !qualified || strings.Contains(table, "."):
			v.add(fnKey+".table", `must be "database.table", got %q`, fn.Table)
		case v.qualifiedName(fnKey+".table", fn.Table, database, table):
			if fn.Kind == KindJoin {
				switch {
				case !slices.Contains(tables, fn.Table):
					v.add(fnKey+".table", "the joined table %s must also be one of the flow's tables (its changes update the join), got tables %q", fn.Table, tables)
				case len(tables) < 2:
					v.add(fnKey+".table", "a join needs the flow to read another table besides %s: the rows to enrich", fn.Table)
				}
			}
		}
	}
	if len(fn.On) == 0 {
		v.add(fnKey+".on", `required: the columns to match, row column = %s column (on = { customer_id = "id" })`, fn.Kind)
	}
	for _, c := range slices.Sorted(maps.Keys(fn.On)) {
		if problem := columnProblem(c); problem != "" {
			v.add(joinKey(fnKey+".on", c), "column name %s", problem)
		} else if problem := columnProblem(fn.On[c]); problem != "" {
			v.add(joinKey(fnKey+".on", c), "column name %s", problem)
		}
	}
	if len(fn.Columns) == 0 {
		v.add(fnKey+".columns", "required: the columns of %s to add to the row", fn.Table)
	}
	v.columnList(fnKey+".columns", fn.Columns)
	for _, c := range slices.Sorted(maps.Keys(fn.Rename)) {
		key := joinKey(fnKey+".rename", c)
		if !slices.Contains(fn.Columns, c) {
			v.add(key, "renames column %q, which columns does not list", c)
		} else if problem := columnProblem(fn.Rename[c]); problem != "" {
			v.add(key, "new column name %s", problem)
		}
	}
	names := fn.JoinedNames()
	for k, n := range names {
		if slices.Index(names, n) != k {
			v.add(fnKey+".rename", "two added columns would both be named %q", n)
		}
	}
	if fn.Kind == KindJoin && v.required(fnKey+".state", fn.State, "the downstream table that keeps the joined table's rows (its on and columns columns, keyed by the on columns)") {
		if problem := identifierProblem(fn.State); problem != "" {
			v.add(fnKey+".state", "table name %s, got %q", problem, fn.State)
		}
	}
}

// irrelevantKeys reports keys set on fn that its kind does not use, so that a
// misplaced key is not silently ignored.
func (v *validator) irrelevantKeys(fnKey string, fn *Function) {
	set := map[string]bool{
		"name":       fn.Name != "",
		"columns":    fn.Columns != nil,
		"rename":     fn.Rename != nil,
		"group_by":   fn.GroupBy != nil,
		"aggregates": fn.Aggregates != nil,
		"table":      fn.Table != "",
		"key":        fn.Key != nil,
		"mode":       fn.Mode != "",
		"params":     fn.Params != nil,
		"expr":       fn.Expr != "",
		"set":        fn.Set != nil,
		"cast":       fn.Cast != nil,
		"drop":       fn.Drop != nil,
		"bucket":     fn.Bucket.IsSet(),
		"of":         fn.Of != "",
		"as":         fn.As != "",
		"format":     fn.Format != "",
		"separator":  fn.Separator != "",
		"position":   fn.Position != "",
		"on":         fn.On != nil,
		"state":      fn.State != "",
		"from":       fn.From != "",
		"cache_rows": fn.CacheRows != 0,
		"cache_ttl":  fn.CacheTTL.Duration != 0,
		"missing":    fn.Missing != "",
	}
	allowed := functionKeys[fn.Kind]
	for _, name := range slices.Sorted(maps.Keys(set)) {
		key := fnKey + "." + name
		isSet := set[name]
		if v.isSet != nil {
			isSet = v.isSet(key)
		}
		if isSet && !slices.Contains(allowed, name) {
			v.add(key, "does not apply to kind %q (its keys: %s)", fn.Kind, strings.Join(allowed[1:], ", "))
		}
	}
}

func (v *validator) project(fnKey string, fn *Function) {
	if len(fn.Columns) == 0 && len(fn.Rename) == 0 {
		v.add(fnKey, "a project function needs columns (to keep) and/or rename (old = new)")
		return
	}
	v.columnList(fnKey+".columns", fn.Columns)

	kept := map[string]bool{}
	for _, c := range fn.Columns {
		kept[c] = true
	}
	// Output names after renaming must stay unique, or two values would be
	// written to one column.
	outputOf := map[string]string{}
	for _, c := range fn.Columns {
		outputOf[c] = c
	}
	for _, old := range slices.Sorted(maps.Keys(fn.Rename)) {
		renamed := fn.Rename[old]
		key := joinKey(fnKey+".rename", old)
		if problem := columnProblem(old); problem != "" {
			v.add(key, "column to rename %s", problem)
			continue
		}
		if problem := columnProblem(renamed); problem != "" {
			v.add(key, "new column name %s", problem)
			continue
		}
		if len(fn.Columns) > 0 && !kept[old] {
			v.add(key, "renames column %q, which columns does not keep", old)
			continue
		}
		outputOf[old] = renamed
	}
	firstSource := map[string]string{}
	for _, source := range slices.Sorted(maps.Keys(outputOf)) {
		out := outputOf[source]
		if other, dup := firstSource[out]; dup {
			v.add(fnKey+".rename", "columns %q and %q would both be named %q", other, source, out)
			continue
		}
		firstSource[out] = source
	}
}

func (v *validator) aggregate(fnKey string, fn *Function) {
	if len(fn.GroupBy) == 0 && !fn.Bucket.IsSet() {
		v.add(fnKey+".group_by", "at least one column to group by is required")
	}
	v.columnList(fnKey+".group_by", fn.GroupBy)
	v.bucket(fnKey+".bucket", fn)
	if len(fn.Aggregates) == 0 {
		v.add(fnKey+".aggregates", `at least one aggregate ({ column = "n", func = "count" }) is required`)
		return
	}
	grouped := map[string]bool{}
	for _, c := range fn.AggregateKey() {
		grouped[c] = true
	}
	outputs := map[string]int{}
	rowCount := false
	for k, agg := range fn.Aggregates {
		aggKey := fmt.Sprintf("%s.aggregates[%d]", fnKey, k)
		switch problem := columnProblem(agg.Column); {
		case agg.Column == "":
			v.add(aggKey+".column", "required: the output column name")
		case problem != "":
			v.add(aggKey+".column", "column name %s", problem)
		case grouped[agg.Column]:
			v.add(aggKey+".column", "%q is also a group_by column; pick another output name", agg.Column)
		default:
			if first, dup := outputs[agg.Column]; dup {
				v.add(aggKey+".column", "output column %q is already produced by aggregates[%d]", agg.Column, first)
			} else {
				outputs[agg.Column] = k
			}
		}
		if problem := columnProblem(agg.Of); agg.Of != "" && problem != "" {
			v.add(aggKey+".of", "column name %s", problem)
			continue
		}
		switch agg.Func {
		case AggregateCount:
			rowCount = rowCount || agg.Of == ""
		case AggregateSum:
			if agg.Of == "" {
				v.add(aggKey+".of", "required for sum: the input column to add up")
			}
		case AggregateAvg:
			if agg.Of == "" {
				v.add(aggKey+".of", "required for avg: the input column to average")
				continue
			}
			if !hasAggregate(fn.Aggregates, AggregateSum, agg.Of) || !hasAggregate(fn.Aggregates, AggregateCount, agg.Of) {
				v.add(aggKey, `avg(%[1]s) is derived from sum(%[1]s) and count(%[1]s) in the same table: add { column = "sum_%[1]s", func = "sum", of = %[1]q } and { column = "count_%[1]s", func = "count", of = %[1]q }`, agg.Of)
			}
		case AggregateMin, AggregateMax, AggregateCountDistinct:
			switch {
			case agg.Of == "":
				v.add(aggKey+".of", "required for %s: the input column it reads", agg.Func)
			case grouped[agg.Of]:
				v.add(aggKey+".of", "%q is a group-by column, constant in each group", agg.Of)
			case agg.Of == StateCountColumn || grouped[StateCountColumn]:
				v.add(aggKey+".of", "the state table of %s keeps its counts in a column %q, so neither the input column nor a group-by column may be called %[2]q; rename it with a map first", agg.Func, StateCountColumn)
			}
		case "":
			v.add(aggKey+".func", "required; expected one of %s", strings.Join(aggregateFns, ", "))
		default:
			v.add(aggKey+".func", "unknown aggregate func %q; expected one of %s", agg.Func, strings.Join(aggregateFns, ", "))
		}
	}
	if !rowCount {
		v.add(fnKey+".aggregates", `needs a count of rows ({ column = "n", func = "count" }, without of): it tells when a group is empty`)
	}
}

func hasAggregate(aggs []Aggregate, fn, of string) bool {
	for _, a := range aggs {
		if a.Func == fn && a.Of == of {
			return true
		}
	}
	return false
}

// bucket checks an aggregate's time bucket.
func (v *validator) bucket(key string, fn *Function) {
	b := fn.Bucket
	if !b.IsSet() {
		return
	}
	if v.required(key+".column", b.Column, "the DATETIME, TIMESTAMP or DATE column to bucket") {
		if problem := columnProblem(b.Column); problem != "" {
			v.add(key+".column", "column name %s", problem)
		}
	}
	v.oneOf(key+".every", "bucket unit", b.Every, bucketUnits)
	if problem := columnProblem(b.As); b.As != "" && problem != "" {
		v.add(key+".as", "column name %s", problem)
	}
	if slices.Contains(fn.GroupBy, b.OutputColumn()) {
		v.add(key+".as", "the bucket's column %q is also a group_by column; name it with as", b.OutputColumn())
	}
}

// mapFunction checks a map: computed columns, casts, renames and drops.
func (v *validator) mapFunction(fnKey string, fn *Function) {
	if len(fn.Set) == 0 && len(fn.Cast) == 0 && len(fn.Rename) == 0 && len(fn.Drop) == 0 {
		v.add(fnKey, "a map function needs set (column = expression), cast (column = type), rename (old = new) and/or drop (columns)")
		return
	}
	for _, name := range slices.Sorted(maps.Keys(fn.Set)) {
		key := joinKey(fnKey+".set", name)
		if problem := columnProblem(name); problem != "" {
			v.add(key, "column name %s", problem)
		} else if strings.TrimSpace(fn.Set[name]) == "" {
			v.add(key, "must be an expression over the row's columns, such as \"amount * 1.2\"")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fn.Cast)) {
		key := joinKey(fnKey+".cast", name)
		if problem := columnProblem(name); problem != "" {
			v.add(key, "column name %s", problem)
		} else if !castType.MatchString(strings.ToLower(fn.Cast[name])) {
			v.add(key, "unknown type %q; expected int, uint, float, decimal, decimal(P,S), string, date or datetime", fn.Cast[name])
		}
	}
	for _, old := range slices.Sorted(maps.Keys(fn.Rename)) {
		key := joinKey(fnKey+".rename", old)
		if problem := columnProblem(old); problem != "" {
			v.add(key, "column to rename %s", problem)
		} else if problem := columnProblem(fn.Rename[old]); problem != "" {
			v.add(key, "new column name %s", problem)
		}
	}
	v.columnList(fnKey+".drop", fn.Drop)
}

// expand checks an expand: the column split into rows and its format.
func (v *validator) expand(fnKey string, fn *Function) {
	if v.required(fnKey+".of", fn.Of, "the column to split into one row per element") {
		if problem := columnProblem(fn.Of); problem != "" {
			v.add(fnKey+".of", "column name %s", problem)
		}
	}
	if fn.Format != "" {
		v.oneOf(fnKey+".format", "format", fn.Format, expandFormats)
	}
	switch {
	case fn.Format == ExpandSplit && fn.Separator == "":
		v.add(fnKey+".separator", `required with format = "split": the text between elements, such as "|"`)
	case fn.Format != ExpandSplit && fn.Separator != "":
		v.add(fnKey+".separator", `applies to format = "split" only`)
	}
	for _, k := range []struct{ key, name string }{{"as", fn.As}, {"position", fn.Position}} {
		if problem := columnProblem(k.name); k.name != "" && problem != "" {
			v.add(fnKey+"."+k.key, "column name %s", problem)
		}
	}
	as := fn.As
	if as == "" {
		as = fn.Of
	}
	if fn.Position != "" && fn.Position == as {
		v.add(fnKey+".position", "%q is also the element's column; pick another name", fn.Position)
	}
}

func (v *validator) sink(fnKey string, fn *Function, previous *Function) {
	if v.required(fnKey+".table", fn.Table, `the downstream table to write, "table" or "database.table"`) {
		database, table, qualified := strings.Cut(fn.Table, ".")
		switch {
		case !qualified:
			if problem := identifierProblem(fn.Table); problem != "" {
				v.add(fnKey+".table", "table name %s, got %q", problem, fn.Table)
			}
		case strings.Contains(table, "."):
			v.add(fnKey+".table", `must be "table" or "database.table", got %q`, fn.Table)
		default:
			v.qualifiedName(fnKey+".table", fn.Table, database, table)
		}
	}

	afterAggregate := previous != nil && previous.Kind == KindAggregate
	switch {
	case len(fn.Key) == 0 && afterAggregate:
		// Load fills in the group_by columns; a Config built in code may not.
		if v.isSet == nil {
			v.add(fnKey+".key", "must be set to the aggregate's group_by columns")
		} else {
			v.add(fnKey+".key", "must not be empty; leave it out to use the aggregate's group_by columns")
		}
	case len(fn.Key) == 0:
		v.add(fnKey+".key", "at least one key column is required: the downstream table's primary key")
	default:
		v.columnList(fnKey+".key", fn.Key)
		if afterAggregate && !sameSet(fn.Key, previous.AggregateKey()) {
			v.add(fnKey+".key", "after an aggregate the key must be its group_by columns %q, got %q; leave key out to use them",
				previous.AggregateKey(), fn.Key)
		}
		if fn.Mode == ModeAppend && !sameSet(fn.Key, AppendKey()) {
			v.add(fnKey+".key", "an append sink's key is its history columns %q, got %q; leave key out to use them", AppendKey(), fn.Key)
		}
	}
	v.oneOf(fnKey+".mode", "mode", fn.Mode, sinkModes)
	if afterAggregate && fn.Mode != ModeUpsert && fn.Mode != "" {
		v.add(fnKey+".mode", "an aggregate's sink keeps one row per group: mode must be %q, got %q", ModeUpsert, fn.Mode)
	}
}

// columnList checks each column name of a list and that none repeats.
func (v *validator) columnList(key string, columns []string) {
	seen := map[string]bool{}
	for k, c := range columns {
		colKey := fmt.Sprintf("%s[%d]", key, k)
		if problem := columnProblem(c); problem != "" {
			v.add(colKey, "column name %s", problem)
			continue
		}
		if seen[c] {
			v.add(colKey, "column %q is listed twice", c)
		}
		seen[c] = true
	}
}

// required reports a problem when value is empty and returns whether it is set.
func (v *validator) required(key, value, what string) bool {
	if value == "" {
		v.add(key, "required: %s", what)
		return false
	}
	return true
}

func (v *validator) oneOf(key, what, value string, allowed []string) {
	if slices.Contains(allowed, value) {
		return
	}
	if value == "" {
		v.add(key, "must not be empty; expected one of %s", strings.Join(allowed, ", "))
		return
	}
	v.add(key, "unknown %s %q; expected one of %s", what, value, strings.Join(allowed, ", "))
}

func (v *validator) port(key string, port int) {
	if port < 1 || port > 65535 {
		v.add(key, "must be a TCP port between 1 and 65535, got %d", port)
	}
}

func (v *validator) positive(key string, n int) {
	if n <= 0 {
		v.add(key, "must be a positive integer, got %d", n)
	}
}

// ParseStart splits Upstream.Start: current is true for "current" and
// "snapshot" (neither names a position: a snapshot's position is the one of
// its consistent view, taken when it starts); otherwise file is the binlog
// file name and pos its position (0 when only a file is given, meaning the
// start of that file).
func ParseStart(start string) (file string, pos uint32, current bool, err error) {
	const want = `must be "snapshot", "current", "FILE" or "FILE:POS" (e.g. "mariadb-bin.000042:4")`
	if start == StartCurrent || start == StartSnapshot {
		return "", 0, true, nil
	}
	file, posText, hasPos := strings.Cut(start, ":")
	if file == "" || strings.ContainsAny(file, "/\\\x00 \t\n") || strings.ContainsRune(posText, ':') {
		return "", 0, false, fmt.Errorf("%s, got %q", want, start)
	}
	if !hasPos {
		return file, 0, false, nil
	}
	n, parseErr := strconv.ParseUint(posText, 10, 32)
	if parseErr != nil || n < 4 {
		// Every binlog file starts with a 4-byte magic number, so 4 is the
		// first event.
		return "", 0, false, fmt.Errorf("%s with POS an integer from 4 to 4294967295, got %q", want, start)
	}
	return file, uint32(n), false, nil
}

// identifierProblem says what is wrong with a database or table name, or "".
// Backticks are refused because binflow quotes identifiers with them.
func identifierProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case strings.ContainsRune(name, '`'):
		return "must not contain a backtick"
	case strings.ContainsRune(name, 0):
		return "must not contain a NUL byte"
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case utf8.RuneCountInString(name) > maxIdentifierLen:
		return fmt.Sprintf("must be at most %d characters", maxIdentifierLen)
	}
	return ""
}

// columnProblem says what is wrong with a column name, or "".
func columnProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case strings.ContainsRune(name, 0):
		return "must not contain a NUL byte"
	}
	return ""
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	for _, s := range b {
		if !in[s] {
			return false
		}
	}
	return true
}
