package config

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The function kinds and keys of issue 4: map, expand, aggregate funcs and
// buckets, sink modes and sinks in the middle of a chain.
func TestFunctionKinds(t *testing.T) {
	const f = "config.toml: "
	agg := func(body string) string {
		return fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\n"+body) + fn("kind = \"sink\"\ntable = \"t\"")
	}
	tests := []struct {
		name string
		fns  string
		want []string
	}{
		// map
		{"map", fn("kind = \"map\"\nset = { total = \"amount * 1.2\" }\ncast = { amount = \"decimal(12,2)\", n = \"int\" }\nrename = { a = \"b\" }\ndrop = [\"c\"]") + sink, nil},
		{"empty map", fn(`kind = "map"`) + sink,
			[]string{f + "flows[0].functions[0]: a map function needs set (column = expression), cast (column = type), rename (old = new) and/or drop (columns)"}},
		{"map problems", fn("kind = \"map\"\nset = { x = \" \" }\ncast = { y = \"money\" }\nrename = { a = \"\" }\ndrop = [\"d\", \"d\"]\ncolumns = [\"q\"]") + sink, []string{
			f + `flows[0].functions[0].columns: does not apply to kind "map" (its keys: set, cast, rename, drop)`,
			f + `flows[0].functions[0].set.x: must be an expression over the row's columns, such as "amount * 1.2"`,
			f + `flows[0].functions[0].cast.y: unknown type "money"; expected int, uint, float, decimal, decimal(P,S), string, date or datetime`,
			f + `flows[0].functions[0].rename.a: new column name must not be empty`,
			f + `flows[0].functions[0].drop[1]: column "d" is listed twice`,
		}},

		// expand
		{"expand", fn("kind = \"expand\"\nof = \"tags\"\nas = \"tag\"\nformat = \"split\"\nseparator = \"|\"\nposition = \"pos\"") + sink, nil},
		{"expand defaults", fn("kind = \"expand\"\nof = \"tags\"") + sink, nil},
		{"expand problems", fn("kind = \"expand\"\nformat = \"xml\"\nseparator = \",\"\nas = \"p\"\nposition = \"p\"") + sink, []string{
			f + "flows[0].functions[0].of: required: the column to split into one row per element",
			f + `flows[0].functions[0].format: unknown format "xml"; expected one of set, json, split`,
			f + `flows[0].functions[0].separator: applies to format = "split" only`,
			f + `flows[0].functions[0].position: "p" is also the element's column; pick another name`,
		}},
		{"split without separator", fn("kind = \"expand\"\nof = \"t\"\nformat = \"split\"") + sink,
			[]string{f + `flows[0].functions[0].separator: required with format = "split": the text between elements, such as "|"`}},

		// aggregate
		{"every aggregate func", agg(`aggregates = [
  { column = "n", func = "count" },
  { column = "n_amount", func = "count", of = "amount" },
  { column = "s", func = "sum", of = "amount" },
  { column = "a", func = "avg", of = "amount" },
  { column = "lo", func = "min", of = "amount" },
  { column = "hi", func = "max", of = "amount" },
  { column = "d", func = "count_distinct", of = "product" },
]`), nil},
		{"avg without its sum and count", agg(`aggregates = [{ column = "n", func = "count" }, { column = "a", func = "avg", of = "amount" }]`),
			[]string{f + `flows[0].functions[0].aggregates[1]: avg(amount) is derived from sum(amount) and count(amount) in the same table: add { column = "sum_amount", func = "sum", of = "amount" } and { column = "count_amount", func = "count", of = "amount" }`}},
		{"state aggregates", agg(`aggregates = [{ column = "c", func = "count", of = "x" }, { column = "lo", func = "min", of = "g" }, { column = "hi", func = "max", of = "n" }, { column = "d", func = "count_distinct" }]`), []string{
			f + `flows[0].functions[0].aggregates[1].of: "g" is a group-by column, constant in each group`,
			f + `flows[0].functions[0].aggregates[2].of: the state table of max keeps its counts in a column "n", so neither the input column nor a group-by column may be called "n"; rename it with a map first`,
			f + "flows[0].functions[0].aggregates[3].of: required for count_distinct: the input column it reads",
			f + `flows[0].functions[0].aggregates: needs a count of rows ({ column = "n", func = "count" }, without of): it tells when a group is empty`,
		}},
		{"bucket", fn("kind = \"aggregate\"\nbucket = { column = \"created_at\", every = \"hour\", as = \"hour\" }\naggregates = [{ column = \"n\", func = \"count\" }]") +
			fn("kind = \"sink\"\ntable = \"t\""), nil},
		{"bucket key must include the bucket", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\nbucket = { column = \"created_at\", every = \"day\" }\naggregates = [{ column = \"n\", func = \"count\" }]") +
			fn("kind = \"sink\"\ntable = \"t\"\nkey = [\"g\"]"),
			[]string{f + `flows[0].functions[1].key: after an aggregate the key must be its group_by columns ["g" "created_at"], got ["g"]; leave key out to use them`}},
		{"bucket problems", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\nbucket = { every = \"week\", as = \"g\" }\naggregates = [{ column = \"n\", func = \"count\" }]") + fn("kind = \"sink\"\ntable = \"t\""), []string{
			f + "flows[0].functions[0].bucket.column: required: the DATETIME, TIMESTAMP or DATE column to bucket",
			f + `flows[0].functions[0].bucket.every: unknown bucket unit "week"; expected one of minute, hour, day, month`,
			f + `flows[0].functions[0].bucket.as: the bucket's column "g" is also a group_by column; name it with as`,
			f + `flows[0].functions[1].key[1]: column "g" is listed twice`,
		}},
		{"unknown bucket key", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\nbucket = { column = \"c\", every = \"day\", size = 2 }\naggregates = [{ column = \"n\", func = \"count\" }]") + fn("kind = \"sink\"\ntable = \"t\""),
			[]string{f + `flows[0].functions[0].bucket.size: unknown key`}},

		// sinks
		{"aggregate's sink must be last", agg(`aggregates = [{ column = "n", func = "count" }]`) + fn("kind = \"sink\"\ntable = \"u\"\nkey = [\"g\"]"),
			[]string{f + "flows[0].functions[1].kind: an aggregate's sink must be the last function of a flow (an aggregate passes no rows on), but 1 more follow it"}},
		{"aggregate followed by a filter", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\naggregates = [{ column = \"n\", func = \"count\" }]") + fn("kind = \"filter\"\nexpr = \"true\"") + sink,
			[]string{f + `flows[0].functions[1].kind: an aggregate must be followed by its sink (the derived table), got "filter"`}},
		{"aggregate's sink appends", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\naggregates = [{ column = \"n\", func = \"count\" }]") + fn("kind = \"sink\"\ntable = \"t\"\nmode = \"delete\""),
			[]string{f + `flows[0].functions[1].mode: an aggregate's sink keeps one row per group: mode must be "upsert", got "delete"`}},
		{"append sink with another key", fn("kind = \"sink\"\ntable = \"h\"\nmode = \"append\"\nkey = [\"id\"]"),
			[]string{f + `flows[0].functions[0].key: an append sink's key is its history columns ["binlog_file" "binlog_pos" "binlog_row"], got ["id"]; leave key out to use them`}},
		{"fan out to three sinks", sink + fn("kind = \"sink\"\ntable = \"h\"\nmode = \"append\"") + fn("kind = \"filter\"\nexpr = \"x > 1\"") + fn("kind = \"sink\"\ntable = \"gone\"\nkey = [\"id\"]\nmode = \"delete\""), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := doc{flows: flow("f", tt.fns)}.String()
			cfg, err := parse("config.toml", text, envOf(nil))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error:\n%v\nfile:\n%s", err, text)
				}
				for _, fc := range cfg.Flows[0].Functions {
					if fc.Kind == KindSink && fc.Mode == ModeAppend && !reflect.DeepEqual(fc.Key, AppendKey()) {
						t.Errorf("append sink key defaults to %q, want %q", fc.Key, AppendKey())
					}
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
		})
	}
}

// An aggregate's sink key defaults to its group_by columns and its bucket.
func TestBucketKeyDefault(t *testing.T) {
	text := doc{flows: flow("f", fn("kind = \"aggregate\"\ngroup_by = [\"g\"]\nbucket = { column = \"created_at\", every = \"day\", as = \"day\" }\naggregates = [{ column = \"n\", func = \"count\" }]")+
		fn("kind = \"sink\"\ntable = \"t\""))}.String()
	cfg, err := parse("config.toml", text, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Flows[0].Functions[1].Key; !reflect.DeepEqual(got, []string{"g", "day"}) {
		t.Errorf("key = %q", got)
	}
}

// Join and lookup: what they read and add, and where a join may stand.
func TestJoinAndLookupConfig(t *testing.T) {
	const f = "config.toml: "
	joined := func(tables, functions string) string {
		return "\n[[flows]]\nname = \"f\"\ntables = " + tables + "\n" + functions
	}
	both := `["shop.orders", "shop.customers"]`
	join := fn("kind = \"join\"\ntable = \"shop.customers\"\non = { customer_id = \"id\" }\ncolumns = [\"name\", \"country\"]\nrename = { country = \"cc\" }\nstate = \"j_state\"")
	tests := []struct {
		name  string
		flows string
		want  []string
	}{
		{"join", joined(both, fn(`kind = "filter"`+"\nexpr = \"amount > 0\"")+join+sink), nil},
		{"lookup", joined(`["shop.orders"]`, fn("kind = \"lookup\"\nfrom = \"downstream\"\ntable = \"ref.customers\"\non = { customer_id = \"id\" }\ncolumns = [\"name\"]\ncache_rows = 100\ncache_ttl = \"30s\"\nmissing = \"drop\"")+sink), nil},
		{"join problems", joined(`["shop.orders"]`, fn("kind = \"join\"\ntable = \"customers\"\ncolumns = [\"a\", \"a\"]\nrename = { b = \"c\" }\nfrom = \"upstream\"")+sink), []string{
			f + `flows[0].functions[0].columns[1]: column "a" is listed twice`,
			f + `flows[0].functions[0].from: does not apply to kind "join" (its keys: table, on, columns, rename, state)`,
			f + `flows[0].functions[0].on: required: the columns to match, row column = join column (on = { customer_id = "id" })`,
			f + `flows[0].functions[0].rename.b: renames column "b", which columns does not list`,
			f + `flows[0].functions[0].rename: two added columns would both be named "a"`,
			f + `flows[0].functions[0].state: required: the downstream table that keeps the joined table's rows (its on and columns columns, keyed by the on columns)`,
			f + `flows[0].functions[0].table: must be "database.table", got "customers"`,
		}},
		{"joined table not read by the flow", joined(`["shop.orders"]`, join+sink), []string{
			f + `flows[0].functions[0].table: the joined table shop.customers must also be one of the flow's tables (its changes update the join), got tables ["shop.orders"]`,
		}},
		{"join not followed by an upsert sink", joined(both, join+fn(`kind = "filter"`+"\nexpr = \"true\"")+sink), []string{
			f + `flows[0].functions[1].kind: a join must be followed by its sink in upsert mode (the joined table's changes update that table in place), got "filter"`,
		}},
		{"lookup problems", joined(`["shop.orders"]`, fn("kind = \"lookup\"\nfrom = \"cache\"\ntable = \"ref.c\"\non = { customer_id = \"id\" }\ncolumns = [\"name\"]\ncache_rows = -1\nmissing = \"skip\"\nstate = \"s\"")+sink), []string{
			f + `flows[0].functions[0].cache_rows: must be 0 (no cache) or a positive number of rows, got -1`,
			f + `flows[0].functions[0].from: unknown source "cache"; expected one of upstream, downstream`,
			f + `flows[0].functions[0].missing: unknown rule "skip"; expected one of null, drop, fail`,
			f + `flows[0].functions[0].state: does not apply to kind "lookup" (its keys: from, table, on, columns, rename, cache_rows, cache_ttl, missing)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := doc{flows: tt.flows}.String()
			_, err := parse("config.toml", text, envOf(nil))
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
			gotLines := strings.Split(got.Error(), "\n")
			sort.Strings(gotLines)
			if !reflect.DeepEqual(gotLines, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s\nfile:\n%s", strings.Join(gotLines, "\n"), strings.Join(tt.want, "\n"), text)
			}
		})
	}
}
