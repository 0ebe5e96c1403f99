package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const validFile = "testdata/valid.toml"

// envOf returns a lookupEnv over a fixed map.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var validEnv = envOf(map[string]string{"BINFLOW_UPSTREAM_PASSWORD": "binflow-up-secret"})

func ms(n int) Duration { return Duration{time.Duration(n) * time.Millisecond} }

func TestLoadValidExample(t *testing.T) {
	got, err := load(validFile, validEnv)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	want := &Config{
		Path: validFile,
		Upstream: Upstream{
			Flavor: "mariadb", Host: "127.0.0.1", Port: 3407, User: "binflow",
			Password: "binflow-up-secret", PasswordEnv: "BINFLOW_UPSTREAM_PASSWORD",
			ServerID: 1001, Start: "current", ServerChange: "refuse", TLSMode: "disabled",
		},
		Downstream: Downstream{
			Driver: "mysql", Host: "127.0.0.1", Port: 3408, User: "binflow",
			Password: "binflow-down-secret", Database: "derived", Migrations: "migrations",
			TLSMode: "disabled",
		},
		Batch:  Batch{MaxRows: 2000, MaxDelay: ms(100), QueueTxns: 256, RetryMax: ms(30000)},
		Log:    Log{Level: "debug", Format: "console"},
		HTTP:   HTTP{Listen: "127.0.0.1:9180"},
		Health: Health{MaxLag: ms(45000), StallAfter: ms(9000)},
		Snapshot: Snapshot{ChunkRows: DefaultSnapshotChunkRows, MaxRows: DefaultSnapshotMaxRows,
			MaxDelay: ms(2000), ProgressInterval: ms(5000), Method: DefaultSnapshotMethod},
		Flows: []Flow{
			{
				Name:   "orders_copy",
				Tables: []string{"shop.orders"},
				Functions: []Function{
					{Kind: "project", Columns: []string{"id", "customer_id", "amount", "status"}, Rename: map[string]string{"status": "order_status"}},
					{Kind: "sink", Table: "orders_copy", Key: []string{"id"}, Mode: "upsert"},
				},
			},
			{
				Name:   "customer_totals",
				Tables: []string{"shop.orders"},
				Functions: []Function{
					{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []Aggregate{
						{Column: "order_count", Func: "count"},
						{Column: "revenue", Func: "sum", Of: "amount"},
					}},
					// key defaults to the aggregate's group_by.
					{Kind: "sink", Table: "derived.customer_totals", Key: []string{"customer_id"}, Mode: "upsert"},
				},
			},
			{
				Name:   "big_orders",
				Tables: []string{"shop.orders"},
				Functions: []Function{
					{Kind: "go", Name: "big_orders", Params: map[string]string{"min_amount": "1000.00"}},
					{Kind: "sink", Table: "big_orders", Key: []string{"id"}, Mode: "upsert"},
				},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("load(%s):\n got %#v\nwant %#v", validFile, *got, *want) // GoString is redacted
		t.Errorf("got:\n%s", mustGoDump(got))
	}
}

// mustGoDump shows a config with its passwords, for test failures only.
func mustGoDump(c *Config) string {
	type plain Config // drops Config's redacting String method
	return fmt.Sprintf("%+v", plain(*c))
}

func TestLoadAppliesDefaults(t *testing.T) {
	text := `
[upstream]
user = "u"
[downstream]
user = "d"
database = "derived"
[[flows]]
name = "f"
tables = ["shop.orders"]
[[flows.functions]]
kind = "sink"
table = "t"
key = ["id"]
`
	got, err := parse("config.toml", text, envOf(nil))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"upstream.flavor", got.Upstream.Flavor, "mariadb"},
		{"upstream.host", got.Upstream.Host, "127.0.0.1"},
		{"upstream.port", got.Upstream.Port, 3306},
		{"upstream.server_id", got.Upstream.ServerID, uint32(1001)},
		{"upstream.start", got.Upstream.Start, "snapshot"},
		{"upstream.tls", got.Upstream.TLSMode, "disabled"},
		{"downstream.driver", got.Downstream.Driver, "mysql"},
		{"downstream.host", got.Downstream.Host, "127.0.0.1"},
		{"downstream.port", got.Downstream.Port, 3306},
		{"downstream.migrations", got.Downstream.Migrations, "migrations"},
		{"downstream.tls", got.Downstream.TLSMode, "disabled"},
		{"batch.max_rows", got.Batch.MaxRows, 5000},
		{"batch.max_delay", got.Batch.MaxDelay, ms(200)},
		{"batch.queue_txns", got.Batch.QueueTxns, 256},
		{"batch.retry_max", got.Batch.RetryMax, ms(30000)},
		{"log.level", got.Log.Level, "info"},
		{"log.format", got.Log.Format, "auto"},
		{"http.listen", got.HTTP.Listen, ""},
		{"health.max_lag", got.Health.MaxLag, ms(30000)},
		{"health.stall_after", got.Health.StallAfter, ms(15000)},
		{"flows[0].functions[0].mode", got.Flows[0].Functions[0].Mode, "upsert"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestDecoderAgreesWithTOMLPackage guards the hand-written decoder: on a file
// it accepts, it must produce exactly what toml.Decode produces.
func TestDecoderAgreesWithTOMLPackage(t *testing.T) {
	data, err := os.ReadFile(validFile)
	if err != nil {
		t.Fatal(err)
	}
	assertDecoderAgrees(t, string(data))
}

func assertDecoderAgrees(t *testing.T, text string) {
	t.Helper()
	ours, d, err := decodeText("config.toml", text)
	if err != nil || len(d.p.errs) > 0 {
		return // the property only covers files our decoder accepts
	}
	theirs := &Config{Path: "config.toml"}
	md, err := toml.Decode(text, theirs)
	if err != nil {
		t.Fatalf("our decoder accepted a file that toml.Decode rejects: %v\n%s", err, text)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		t.Fatalf("our decoder accepted keys toml.Decode left undecoded: %v\n%s", undecoded, text)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("decoders disagree on\n%s\nours:   %s\ntheirs: %s", text, mustGoDump(ours), mustGoDump(theirs))
	}
}

// doc builds a config file from a minimal valid one, replacing the body of a
// section where the case gives one. flows replaces every [[flows]] entry.
type doc struct {
	upstream, downstream, batch, log, http, health, flows string
	raw                                                   string // used as the whole file when set
}

const (
	minimalUpstream   = `user = "binflow"`
	minimalDownstream = "user = \"binflow\"\ndatabase = \"derived\""
	minimalFlows      = `
[[flows]]
name = "f"
tables = ["shop.orders"]
[[flows.functions]]
kind = "sink"
table = "t"
key = ["id"]
`
)

func (d doc) String() string {
	if d.raw != "" {
		return d.raw
	}
	or := func(s, fallback string) string {
		if s == "" {
			return fallback
		}
		return s
	}
	return "[upstream]\n" + or(d.upstream, minimalUpstream) +
		"\n[downstream]\n" + or(d.downstream, minimalDownstream) +
		"\n[batch]\n" + d.batch +
		"\n[log]\n" + d.log +
		"\n[http]\n" + d.http +
		"\n[health]\n" + d.health +
		"\n" + or(d.flows, minimalFlows)
}

// flow is one [[flows]] entry named f over shop.orders with the given
// functions (TOML text of [[flows.functions]] entries).
func flow(name, functions string) string {
	return "\n[[flows]]\nname = \"" + name + "\"\ntables = [\"shop.orders\"]\n" + functions
}

func fn(body string) string { return "[[flows.functions]]\n" + body + "\n" }

var sink = fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"id\"]")

func TestLoadRejects(t *testing.T) {
	const f = "config.toml: "
	tests := []struct {
		name string
		doc  doc
		env  map[string]string
		want []string // every problem, in order
	}{
		// Decoding.
		{"syntax error has line and column", doc{raw: "[upstream]\nuser = \"binflow\"\nport = = 3\n"},
			nil, []string{f + "line 3, column 8: expected value but found '=' instead"}},
		{"unknown top-level key", doc{raw: "bogus = 1\n" + doc{}.String()}, nil,
			[]string{f + "bogus: unknown key"}},
		{"unknown key in upstream", doc{upstream: "user = \"binflow\"\nsever_id = 5"}, nil,
			[]string{f + `upstream.sever_id: unknown key; did you mean "server_id"?`}},
		{"unknown key in a later flow's function",
			doc{flows: flow("a", sink) + flow("b", fn("kind = \"project\"\ncolums = [\"id\"]")+sink)}, nil,
			[]string{
				f + `flows[1].functions[0].colums: unknown key; did you mean "columns"?`,
				f + "flows[1].functions[0]: a project function needs columns (to keep) and/or rename (old = new)",
			}},
		{"unknown section", doc{raw: "[upstreams]\nuser = \"x\"\n" + doc{}.String()}, nil,
			[]string{f + `upstreams: unknown key; did you mean "upstream"?`}},
		{"string where an integer belongs", doc{upstream: "user = \"binflow\"\nport = \"3306\""}, nil,
			[]string{f + `upstream.port: must be an integer, got string "3306"`}},
		{"integer where a duration belongs", doc{batch: "max_delay = 200"}, nil,
			[]string{f + `batch.max_delay: must be a duration string such as "200ms" or "5s", got integer 200`}},
		{"unparsable duration", doc{batch: `retry_max = "30 seconds"`}, nil,
			[]string{f + `batch.retry_max: must be a duration such as "200ms" or "5s", got "30 seconds"`}},
		{"negative server_id", doc{upstream: "user = \"binflow\"\nserver_id = -1"}, nil,
			[]string{f + "upstream.server_id: must be an integer from 1 to 4294967295, got -1"}},
		{"string where an array belongs", doc{flows: "[[flows]]\nname = \"f\"\ntables = \"shop.orders\"\n" + sink}, nil,
			[]string{f + `flows[0].tables: must be an array, got string "shop.orders"`}},
		{"flows as a table", doc{flows: "[flows]\nname = \"f\""}, nil,
			[]string{f + "flows: must be an array, got table"}},
		{"table where a string belongs", doc{upstream: "user = { name = \"x\" }"}, nil,
			[]string{f + "upstream.user: must be a string, got table"}},

		// Upstream.
		{"upstream.user missing", doc{upstream: `host = "db1"`}, nil,
			[]string{f + "upstream.user: required: the MySQL user binflow replicates as"}},
		{"unknown flavor", doc{upstream: "user = \"binflow\"\nflavor = \"postgres\""}, nil,
			[]string{f + `upstream.flavor: unknown flavor "postgres"; expected one of mariadb, mysql`}},
		{"port 0", doc{upstream: "user = \"binflow\"\nport = 0"}, nil,
			[]string{f + "upstream.port: must be a TCP port between 1 and 65535, got 0"}},
		{"port too large", doc{upstream: "user = \"binflow\"\nport = 70000"}, nil,
			[]string{f + "upstream.port: must be a TCP port between 1 and 65535, got 70000"}},
		{"server_id 0", doc{upstream: "user = \"binflow\"\nserver_id = 0"}, nil,
			[]string{f + "upstream.server_id: must be a positive integer, got 0"}},
		{"server_id in the ephemeral range", doc{upstream: "user = \"binflow\"\nserver_id = 2147483648"}, nil,
			[]string{f + "upstream.server_id: must be at most 2147483647 (binflow's secondary binlog connections use random server_ids above it), got 2147483648"}},
		{"empty host", doc{upstream: "user = \"binflow\"\nhost = \"\""}, nil,
			[]string{f + "upstream.host: required: the upstream server's host name or address"}},
		{"start is neither current nor a position", doc{upstream: "user = \"binflow\"\nstart = \"latest:\""}, nil,
			[]string{f + `upstream.start: must be "snapshot", "current", "FILE" or "FILE:POS" (e.g. "mariadb-bin.000042:4") with POS an integer from 4 to 4294967295, got "latest:"`}},
		{"start position inside the magic number", doc{upstream: "user = \"binflow\"\nstart = \"mariadb-bin.000001:2\""}, nil,
			[]string{f + `upstream.start: must be "snapshot", "current", "FILE" or "FILE:POS" (e.g. "mariadb-bin.000042:4") with POS an integer from 4 to 4294967295, got "mariadb-bin.000001:2"`}},
		{"unknown server_change", doc{upstream: "user = \"binflow\"\nserver_change = \"follow\""}, nil,
			[]string{f + `upstream.server_change: unknown server change policy "follow"; expected one of refuse, gtid`}},
		{"start with two colons", doc{upstream: "user = \"binflow\"\nstart = \"a:4:5\""}, nil,
			[]string{f + `upstream.start: must be "snapshot", "current", "FILE" or "FILE:POS" (e.g. "mariadb-bin.000042:4"), got "a:4:5"`}},
		{"password and password_env", doc{upstream: "user = \"binflow\"\npassword = \"x\"\npassword_env = \"PW\""},
			map[string]string{"PW": "y"},
			[]string{f + "upstream.password_env: set either password or password_env, not both"}},
		{"password_env unset", doc{upstream: "user = \"binflow\"\npassword_env = \"BINFLOW_PW\""}, nil,
			[]string{f + `upstream.password_env: environment variable "BINFLOW_PW" is not set or is empty; export it or remove password_env`}},
		{"password_env empty variable", doc{downstream: minimalDownstream + "\npassword_env = \"BINFLOW_PW\""},
			map[string]string{"BINFLOW_PW": ""},
			[]string{f + `downstream.password_env: environment variable "BINFLOW_PW" is not set or is empty; export it or remove password_env`}},
		{"password_env empty name", doc{upstream: "user = \"binflow\"\npassword_env = \"\""}, nil,
			[]string{f + "upstream.password_env: must name an environment variable that holds the password"}},

		// Downstream.
		{"downstream user and database missing", doc{downstream: `host = "db2"`}, nil, []string{
			f + "downstream.user: required: the user binflow writes derived tables as",
			f + "downstream.database: required: the database derived tables and checkpoints go to",
		}},
		{"downstream database with a backtick", doc{downstream: "user = \"u\"\ndatabase = \"de`rived\""}, nil,
			[]string{f + "downstream.database: must not contain a backtick, got \"de`rived\""}},
		{"unknown driver", doc{downstream: minimalDownstream + "\ndriver = \"oracle\""}, nil,
			[]string{f + `downstream.driver: unknown driver "oracle"; expected one of mysql, postgres, sqlite`}},
		{"empty migrations", doc{downstream: minimalDownstream + "\nmigrations = \"\""}, nil,
			[]string{f + "downstream.migrations: required: the folder of migration files"}},

		// Batch and log.
		{"negative max_rows", doc{batch: "max_rows = -5"}, nil,
			[]string{f + "batch.max_rows: must be a positive integer, got -5"}},
		{"explicit zero queue_txns is not defaulted", doc{batch: "queue_txns = 0"}, nil,
			[]string{f + "batch.queue_txns: must be a positive integer, got 0"}},
		{"negative max_delay", doc{batch: `max_delay = "-1s"`}, nil,
			[]string{f + `batch.max_delay: must be a positive duration such as "200ms", got -1s`}},
		{"zero retry_max", doc{batch: `retry_max = "0s"`}, nil,
			[]string{f + `batch.retry_max: must be a positive duration such as "30s", got 0s`}},
		{"unknown log level", doc{log: `level = "verbose"`}, nil,
			[]string{f + `log.level: unknown level "verbose"; expected one of debug, info, warn, error`}},
		{"unknown log format", doc{log: `format = "xml"`}, nil,
			[]string{f + `log.format: unknown format "xml"; expected one of json, console, auto`}},

		// HTTP and health.
		{"listen without a port", doc{http: "listen = \"127.0.0.1\""}, nil,
			[]string{f + `http.listen: must be "host:port" such as "127.0.0.1:9180" (port 0 picks a free one), or "" to serve nothing, got "127.0.0.1"`}},
		{"listen port out of range", doc{http: "listen = \":70000\""}, nil,
			[]string{f + `http.listen: must be "host:port" such as "127.0.0.1:9180" (port 0 picks a free one), or "" to serve nothing, got ":70000"`}},
		{"listen port not a number", doc{http: "listen = \"localhost:http\""}, nil,
			[]string{f + `http.listen: must be "host:port" such as "127.0.0.1:9180" (port 0 picks a free one), or "" to serve nothing, got "localhost:http"`}},
		{"listen as a number", doc{http: "listen = 9180"}, nil,
			[]string{f + `http.listen: must be a string, got integer 9180`}},
		{"listen on any address and a free port is fine", doc{http: "listen = \":0\""}, nil, nil},
		{"empty listen disables", doc{http: "listen = \"\""}, nil, nil},
		{"zero max_lag", doc{health: "max_lag = \"0s\""}, nil,
			[]string{f + `health.max_lag: must be a positive duration such as "30s", got 0s`}},
		{"stall_after below 3s", doc{health: "stall_after = \"2s\""}, nil,
			[]string{f + `health.stall_after: must be at least 3s (the upstream is asked for a heartbeat every third of it), got 2s`}},
		{"unknown key in health", doc{health: "max_lagg = \"5s\""}, nil,
			[]string{f + `health.max_lagg: unknown key; did you mean "max_lag"?`}},

		// Flows.
		{"no flows", doc{flows: "\n"}, nil,
			[]string{f + "flows: at least one [[flows]] entry is required"}},
		{"flow name missing", doc{flows: "[[flows]]\ntables = [\"shop.orders\"]\n" + sink}, nil,
			[]string{f + "flows[0].name: required: a unique name of letters, digits and _ (it keys the flow's checkpoint)"}},
		{"flow name with a dash", doc{flows: flow("orders-copy", sink)}, nil,
			[]string{f + `flows[0].name: must be 1 to 64 letters, digits or _ (it keys the flow's checkpoint), got "orders-copy"`}},
		{"flow name too long", doc{flows: flow(strings.Repeat("a", 65), sink)}, nil,
			[]string{f + `flows[0].name: must be 1 to 64 letters, digits or _ (it keys the flow's checkpoint), got "` + strings.Repeat("a", 65) + `"`}},
		{"duplicate flow names", doc{flows: flow("f", sink) + flow("g", sink) + flow("f", sink)}, nil,
			[]string{f + `flows[2].name: flow name "f" is already used by flows[0]`}},

		// Tables.
		{"no tables", doc{flows: "[[flows]]\nname = \"f\"\ntables = []\n" + sink}, nil,
			[]string{f + `flows[0].tables: at least one source table ("schema.table") is required`}},
		{"table without schema", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"orders\"]\n" + sink}, nil,
			[]string{f + `flows[0].tables[0]: must be "schema.table", got "orders"`}},
		{"table with three parts", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"a.b.c\"]\n" + sink}, nil,
			[]string{f + `flows[0].tables[0]: must be "schema.table", got "a.b.c"`}},
		{"empty schema and table parts", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\".orders\", \"shop.\"]\n" + sink}, nil, []string{
			f + `flows[0].tables[0]: schema name must not be empty, got ".orders"`,
			f + `flows[0].tables[1]: table name must not be empty, got "shop."`,
		}},
		{"table with backtick and NUL", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"shop.or`ders\", \"shop.a\\u0000b\"]\n" + sink}, nil, []string{
			f + "flows[0].tables[0]: table name must not contain a backtick, got \"shop.or`ders\"",
			f + `flows[0].tables[1]: table name must not contain a NUL byte, got "shop.a\x00b"`,
		}},
		{"table listed twice", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"shop.orders\", \"shop.orders\"]\n" + sink}, nil,
			[]string{f + `flows[0].tables[1]: table "shop.orders" is listed twice`}},
		{"unusual but legal identifiers", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"my shop.order$ 2024-é\"]\n" + sink}, nil, nil},

		// Function chain.
		{"no functions", doc{flows: "[[flows]]\nname = \"f\"\ntables = [\"shop.orders\"]\n"}, nil,
			[]string{f + "flows[0].functions: at least one function is required, and the last must be a sink"}},
		{"last function not a sink", doc{flows: flow("f", fn("kind = \"go\"\nname = \"g\""))}, nil,
			[]string{f + `flows[0].functions[0].kind: the last function of a flow must be a sink, got "go"`}},
		{"two sinks of one table", doc{flows: flow("f", sink+sink)}, nil,
			[]string{f + `flows[0].functions[1].table: table "t" is already written by functions[0] of this flow; a flow writes each table once`}},
		{"sinks in the middle pass rows on", doc{flows: flow("f", sink+fn("kind = \"sink\"\ntable = \"u\"\nmode = \"append\""))}, nil, nil},
		{"unknown kind", doc{flows: flow("f", sink+fn("kind = \"agregate\"")+sink)}, nil, []string{
			f + `flows[0].functions[1].kind: unknown function kind "agregate"; expected one of filter, project, map, expand, lookup, join, aggregate, go, sink`,
			f + `flows[0].functions[2].table: table "t" is already written by functions[0] of this flow; a flow writes each table once`,
		}},
		{"kind missing", doc{flows: flow("f", fn(`name = "g"`)+sink)}, nil,
			[]string{f + "flows[0].functions[0].kind: required; expected one of filter, project, map, expand, lookup, join, aggregate, go, sink"}},
		{"keys that do not apply to the kind", doc{flows: flow("f",
			fn("kind = \"project\"\ncolumns = [\"id\"]\nname = \"x\"")+
				fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"id\"]\ngroup_by = [\"id\"]\nparams = { a = \"b\" }"))}, nil, []string{
			f + "flows[0].functions[0].name: does not apply to kind \"project\" (its keys: columns, rename)",
			f + "flows[0].functions[1].group_by: does not apply to kind \"sink\" (its keys: table, key, mode)",
			f + "flows[0].functions[1].params: does not apply to kind \"sink\" (its keys: table, key, mode)",
		}},
		{"empty key that does not apply still counts", doc{flows: flow("f",
			fn("kind = \"go\"\nname = \"g\"\ncolumns = []")+sink)}, nil,
			[]string{f + "flows[0].functions[0].columns: does not apply to kind \"go\" (its keys: name, params)"}},

		// project.
		{"project with neither columns nor rename", doc{flows: flow("f", fn(`kind = "project"`)+sink)}, nil,
			[]string{f + "flows[0].functions[0]: a project function needs columns (to keep) and/or rename (old = new)"}},
		{"project column problems", doc{flows: flow("f", fn("kind = \"project\"\ncolumns = [\"id\", \"\", \"id\"]")+sink)}, nil, []string{
			f + "flows[0].functions[0].columns[1]: column name must not be empty",
			f + `flows[0].functions[0].columns[2]: column "id" is listed twice`,
		}},
		{"rename problems", doc{flows: flow("f", fn("kind = \"project\"\ncolumns = [\"id\", \"a\", \"b\"]\nrename = { a = \"\", c = \"d\", \"b x\" = \"y\" }")+sink)}, nil, []string{
			f + `flows[0].functions[0].rename.a: new column name must not be empty`,
			f + `flows[0].functions[0].rename."b x": renames column "b x", which columns does not keep`,
			f + `flows[0].functions[0].rename.c: renames column "c", which columns does not keep`,
		}},
		{"rename onto a kept column", doc{flows: flow("f", fn("kind = \"project\"\ncolumns = [\"id\", \"a\"]\nrename = { a = \"id\" }")+sink)}, nil,
			[]string{f + `flows[0].functions[0].rename: columns "a" and "id" would both be named "id"`}},
		{"rename only is fine", doc{flows: flow("f", fn("kind = \"project\"\nrename = { a = \"b\" }")+sink)}, nil, nil},

		// aggregate.
		{"aggregate without group_by and aggregates", doc{flows: flow("f", fn(`kind = "aggregate"`)+fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"id\"]"))}, nil, []string{
			f + "flows[0].functions[0].group_by: at least one column to group by is required",
			f + `flows[0].functions[0].aggregates: at least one aggregate ({ column = "n", func = "count" }) is required`,
			f + `flows[0].functions[1].key: after an aggregate the key must be its group_by columns [], got ["id"]; leave key out to use them`,
		}},
		{"aggregate problems", doc{flows: flow("f", fn(`kind = "aggregate"
group_by = ["customer_id"]
aggregates = [
  { column = "n", func = "avg" },
  { column = "total", func = "sum" },
  { column = "c", func = "count", of = "id" },
  { column = "customer_id", func = "count" },
  { column = "n", func = "count" },
  { func = "count" },
  { column = "x" },
]`)+fn("kind = \"sink\"\ntable = \"t\""))}, nil, []string{
			f + "flows[0].functions[0].aggregates[0].of: required for avg: the input column to average",
			f + "flows[0].functions[0].aggregates[1].of: required for sum: the input column to add up",
			f + `flows[0].functions[0].aggregates[3].column: "customer_id" is also a group_by column; pick another output name`,
			f + `flows[0].functions[0].aggregates[4].column: output column "n" is already produced by aggregates[0]`,
			f + "flows[0].functions[0].aggregates[5].column: required: the output column name",
			f + "flows[0].functions[0].aggregates[6].func: required; expected one of count, sum, avg, min, max, count_distinct",
		}},
		{"unknown key in an aggregate", doc{flows: flow("f", fn("kind = \"aggregate\"\ngroup_by = [\"a\"]\naggregates = [{ column = \"n\", func = \"count\", off = \"x\" }]")+fn("kind = \"sink\"\ntable = \"t\""))}, nil,
			[]string{f + `flows[0].functions[0].aggregates[0].off: unknown key; did you mean "of"?`}},

		// go.
		{"go without name", doc{flows: flow("f", fn(`kind = "go"`)+sink)}, nil,
			[]string{f + "flows[0].functions[0].name: required: the name the Go function is registered under"}},

		// sink.
		{"sink without table and key", doc{flows: flow("f", fn(`kind = "sink"`))}, nil, []string{
			f + `flows[0].functions[0].table: required: the downstream table to write, "table" or "database.table"`,
			f + "flows[0].functions[0].key: at least one key column is required: the downstream table's primary key",
		}},
		{"sink table with three parts", doc{flows: flow("f", fn("kind = \"sink\"\ntable = \"a.b.c\"\nkey = [\"id\"]"))}, nil,
			[]string{f + `flows[0].functions[0].table: must be "table" or "database.table", got "a.b.c"`}},
		{"sink table with empty database", doc{flows: flow("f", fn("kind = \"sink\"\ntable = \".t\"\nkey = [\"id\"]"))}, nil,
			[]string{f + `flows[0].functions[0].table: schema name must not be empty, got ".t"`}},
		{"sink key with duplicate and NUL", doc{flows: flow("f", fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"id\", \"id\", \"a\\u0000\"]"))}, nil, []string{
			f + `flows[0].functions[0].key[1]: column "id" is listed twice`,
			f + "flows[0].functions[0].key[2]: column name must not contain a NUL byte",
		}},
		{"explicit empty key after aggregate", doc{flows: flow("f", fn("kind = \"aggregate\"\ngroup_by = [\"a\"]\naggregates = [{ column = \"n\", func = \"count\" }]")+fn("kind = \"sink\"\ntable = \"t\"\nkey = []"))}, nil,
			[]string{f + "flows[0].functions[1].key: must not be empty; leave it out to use the aggregate's group_by columns"}},
		{"unknown sink mode", doc{flows: flow("f", fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"id\"]\nmode = \"merge\""))}, nil,
			[]string{f + `flows[0].functions[0].mode: unknown mode "merge"; expected one of upsert, append, delete`}},

		// Collecting everything at once.
		{"all problems in one go", doc{upstream: `port = 0`, batch: "max_rows = -5", log: `level = "loud"`}, nil, []string{
			f + "upstream.port: must be a TCP port between 1 and 65535, got 0",
			f + "upstream.user: required: the MySQL user binflow replicates as",
			f + "batch.max_rows: must be a positive integer, got -5",
			f + `log.level: unknown level "loud"; expected one of debug, info, warn, error`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.doc.String()
			_, err := parse("config.toml", text, envOf(tt.env))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error:\n%v\nfile:\n%s", err, text)
				}
				return
			}
			var got Errors
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not Errors\nfile:\n%s", err, err, text)
			}
			if gotLines := strings.Split(got.Error(), "\n"); !reflect.DeepEqual(gotLines, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s\nfile:\n%s", strings.Join(gotLines, "\n"), strings.Join(tt.want, "\n"), text)
			}
			if code := ExitCode(err); code != 2 {
				t.Errorf("ExitCode = %d, want 2", code)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.toml")
	_, err := Load(missing)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), missing+": cannot read the config file: ") {
		t.Errorf("error %q does not start with the file name", err)
	}
	if code := ExitCode(err); code != 2 {
		t.Errorf("ExitCode = %d, want 2", code)
	}

	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[upstream]\nuser = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	var one *Error
	if !errors.As(err, &one) || one.File != path || one.Key != "upstream.user" {
		t.Errorf("Load(%s) error = %#v; want an *Error for upstream.user in that file", path, err)
	}
}

func TestLoadReadsPasswordFromEnvironment(t *testing.T) {
	t.Setenv("BINFLOW_UPSTREAM_PASSWORD", "from-env")
	cfg, err := Load(validFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstream.Password != "from-env" {
		t.Errorf("upstream password not read from BINFLOW_UPSTREAM_PASSWORD")
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"other error", errors.New("connection refused"), 1},
		{"one config error", &Error{File: "c.toml", Problem: "x"}, 2},
		{"config errors", Errors{{File: "c.toml", Problem: "x"}}, 2},
		{"wrapped config errors", errors.Join(errors.New("binflow check"), Errors{{File: "c.toml", Problem: "x"}}), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "config.toml", Key: "batch.max_rows", Problem: "must be a positive integer, got -5"},
			"config.toml: batch.max_rows: must be a positive integer, got -5"},
		{&Error{File: "config.toml", Line: 12, Column: 3, Problem: "unexpected EOF"},
			"config.toml: line 12, column 3: unexpected EOF"},
		{&Error{File: "config.toml", Line: 12, Problem: "unexpected EOF"},
			"config.toml: line 12: unexpected EOF"},
		{&Error{File: "config.toml", Problem: "cannot read"}, "config.toml: cannot read"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseStart(t *testing.T) {
	tests := []struct {
		in      string
		file    string
		pos     uint32
		current bool
		ok      bool
	}{
		{"current", "", 0, true, true},
		{"mariadb-bin.000042", "mariadb-bin.000042", 0, false, true},
		{"mariadb-bin.000042:4", "mariadb-bin.000042", 4, false, true},
		{"mysql-bin.000001:4294967295", "mysql-bin.000001", 4294967295, false, true},
		{"mysql-bin.000001:4294967296", "", 0, false, false},
		{"mysql-bin.000001:3", "", 0, false, false},
		{"mysql-bin.000001:", "", 0, false, false},
		{":4", "", 0, false, false},
		{"", "", 0, false, false},
		{"../etc/passwd", "", 0, false, false},
		{"Current", "Current", 0, false, true}, // a file name, as odd as it is
	}
	for _, tt := range tests {
		file, pos, current, err := ParseStart(tt.in)
		if (err == nil) != tt.ok || file != tt.file || pos != tt.pos || current != tt.current {
			t.Errorf("ParseStart(%q) = %q, %d, %v, %v; want %q, %d, %v, ok=%v",
				tt.in, file, pos, current, err, tt.file, tt.pos, tt.current, tt.ok)
		}
	}
}

// TestRepoSampleConfigLoads keeps the repository's sample config.toml valid.
func TestRepoSampleConfigLoads(t *testing.T) {
	const sample = "../config.toml"
	if _, err := os.Stat(sample); err != nil {
		t.Skipf("no sample config: %v", err)
	}
	if _, err := load(sample, envOf(nil)); err != nil {
		t.Fatalf("the sample config does not load:\n%v", err)
	}
}
