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

// Upstream.ServerChange policies.
const (
	ServerChangeRefuse = "refuse"
	ServerChangeGTID   = "gtid"
)

// StartCurrent is Upstream.Start for "the upstream's current position".
const StartCurrent = "current"

// Function kinds.
const (
	KindProject   = "project"
	KindAggregate = "aggregate"
	KindGo        = "go"
	KindSink      = "sink"
	KindFilter    = "filter"
)

// Aggregate funcs.
const (
	AggregateCount = "count"
	AggregateSum   = "sum"
)

// ModeUpsert is the sink mode that replaces rows by key.
const ModeUpsert = "upsert"

// Log formats.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
	LogFormatAuto    = "auto" // console on a terminal, json otherwise
)

var (
	flavors       = []string{FlavorMariaDB, FlavorMySQL}
	drivers       = []string{"mysql"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{LogFormatJSON, LogFormatConsole, LogFormatAuto}
	functionKinds = []string{KindFilter, KindProject, KindAggregate, KindGo, KindSink}
	sinkModes     = []string{ModeUpsert}
	serverChanges = []string{ServerChangeRefuse, ServerChangeGTID}

	// functionKeys lists, per kind, the keys of a [[flows.functions]] entry
	// that mean something for it; any other key set is a mistake.
	functionKeys = map[string][]string{
		KindFilter:    {"kind", "expr"},
		KindProject:   {"kind", "columns", "rename"},
		KindAggregate: {"kind", "group_by", "aggregates"},
		KindGo:        {"kind", "name", "params"},
		KindSink:      {"kind", "table", "key", "mode"},
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
	if u.ServerID == 0 {
		v.add("upstream.server_id", "must be a positive integer, got 0")
	}
	if _, _, _, err := ParseStart(u.Start); err != nil {
		v.add("upstream.start", "%v", err)
	}
	v.oneOf("upstream.server_change", "server change policy", u.ServerChange, serverChanges)
	v.tls("upstream", u.TLS())
}

func (v *validator) downstream(d *Downstream) {
	v.oneOf("downstream.driver", "driver", d.Driver, drivers)
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
		v.functions(i, f.Functions)
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

func (v *validator) functions(flow int, functions []Function) {
	key := fmt.Sprintf("flows[%d].functions", flow)
	if len(functions) == 0 {
		v.add(key, "at least one function is required, and the last must be a sink")
		return
	}
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
		case fn.Kind == KindSink && !last:
			v.add(fnKey+".kind", "a sink must be the last function of a flow, but %d more follow it", len(functions)-1-j)
		case fn.Kind != KindSink && last:
			v.add(fnKey+".kind", "the last function of a flow must be a sink, got %q", fn.Kind)
		}
		v.irrelevantKeys(fnKey, fn)

		switch fn.Kind {
		case KindFilter:
			v.required(fnKey+".expr", fn.Expr, "an expression over the row's columns that is true for rows to keep")
		case KindProject:
			v.project(fnKey, fn)
		case KindAggregate:
			v.aggregate(fnKey, fn)
		case KindGo:
			v.required(fnKey+".name", fn.Name, "the name the Go function is registered under")
		case KindSink:
			var previous *Function
			if j > 0 {
				previous = &functions[j-1]
			}
			v.sink(fnKey, fn, previous)
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
	if len(fn.GroupBy) == 0 {
		v.add(fnKey+".group_by", "at least one column to group by is required")
	}
	v.columnList(fnKey+".group_by", fn.GroupBy)
	if len(fn.Aggregates) == 0 {
		v.add(fnKey+".aggregates", `at least one aggregate ({ column = "n", func = "count" }) is required`)
		return
	}
	grouped := map[string]bool{}
	for _, c := range fn.GroupBy {
		grouped[c] = true
	}
	outputs := map[string]int{}
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
		switch agg.Func {
		case AggregateCount:
			if agg.Of != "" {
				v.add(aggKey+".of", "does not apply to count, which counts rows; remove it")
			}
		case AggregateSum:
			if agg.Of == "" {
				v.add(aggKey+".of", "required for sum: the input column to add up")
			} else if problem := columnProblem(agg.Of); problem != "" {
				v.add(aggKey+".of", "column name %s", problem)
			}
		case "":
			v.add(aggKey+".func", "required; expected one of count, sum")
		default:
			v.add(aggKey+".func", "unknown aggregate func %q; expected one of count, sum", agg.Func)
		}
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
		if afterAggregate && !sameSet(fn.Key, previous.GroupBy) {
			v.add(fnKey+".key", "after an aggregate the key must be its group_by columns %q, got %q; leave key out to use them",
				previous.GroupBy, fn.Key)
		}
	}
	v.oneOf(fnKey+".mode", "mode", fn.Mode, sinkModes)
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

// ParseStart splits Upstream.Start: current is true for "current"; otherwise
// file is the binlog file name and pos its position (0 when only a file is
// given, meaning the start of that file).
func ParseStart(start string) (file string, pos uint32, current bool, err error) {
	const want = `must be "current", "FILE" or "FILE:POS" (e.g. "mariadb-bin.000042:4")`
	if start == StartCurrent {
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
