// Package storetest is the integration suite every connector of
// connectors/internal/sqlstore passes against a real store: values round
// trip exactly, deltas add up exactly, a failing batch leaves nothing,
// checkpoints round trip, an applied batch is skipped, hostile identifiers
// stay names, migrations are idempotent, derived tables are checked, Go
// function state round trips with its batch. Each connector's tests call
// Run with a Harness that opens its store and knows its column types.
package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// MigrationsDir is the repository's migrations folder, from a connector's
// package directory.
const MigrationsDir = "../../migrations"

// Store is what the suite needs of a connector.
type Store interface {
	Apply(ctx context.Context, b *connectors.Batch) error
	LoadCheckpoint(ctx context.Context, flow string) (connectors.Checkpoint, bool, error)
	Checkpoints(ctx context.Context) ([]connectors.Checkpoint, error)
	Migrate(ctx context.Context, dir string) ([]string, error)
	CheckTable(ctx context.Context, table string, key []string) error
	Retryable(err error) bool
	DB() *sql.DB
}

// Harness opens a connector's store and describes its dialect.
type Harness struct {
	// Open returns a store on a fresh, empty database (closed when the
	// test ends).
	Open func(t *testing.T) Store
	// MigrationsSubdir is the connector's folder under migrations/.
	MigrationsSubdir string
	// TimeText is how a time column reads back through Dump.
	TimeText func(time.Time) string
	// DDL of the tables the suite creates, by name (see the tests):
	// "vals", "daily", "wide", "history", "state", "stats"; "hostile" is a
	// format with %[1]s the table, %[2]s the id column, %[3]s the text
	// column, %[4]s the count column (all quoted).
	DDL map[string]string
	// TooLong is a text longer than orders_copy.status allows (or a value
	// the column refuses).
	TooLong string
	// QuoteIdent quotes a name as the store's SQL does (nil: ANSI double
	// quotes).
	QuoteIdent func(name string) string
	// Schema is the schema (MySQL: the database) a store's tables are in,
	// for schema-qualified table names.
	Schema func(s Store) string
	// ErrNotMigrated is what the store's errors wrap when binflow migrate
	// has not run.
	ErrNotMigrated error
	// NonTransactionalDDL: each DDL statement commits itself (MySQL), so a
	// failed migration may leave the tables of its earlier statements.
	NonTransactionalDDL bool
	// FailedBatchErrors is more text the error of a FailedBatchLeavesNothing
	// case (by its name) must contain, such as the server's error code.
	FailedBatchErrors map[string][]string
	// LargeBatchRows is the size of LargeBatchIsChunkedInOneTransaction's
	// batch (0: 20,000 rows of about 650 bytes).
	LargeBatchRows int
}

// quote quotes a name for the store's SQL.
func (h Harness) quote(name string) string {
	if h.QuoteIdent != nil {
		return h.QuoteIdent(name)
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"ValuesRoundTrip", valuesRoundTrip},
		{"DeltasAreExact", deltasAreExact},
		{"DeleteWhenZeroDeletesOnlyTouchedRows", deleteWhenZero},
		{"DeleteCompositeKey", deleteCompositeKey},
		{"DuplicateKeysInOneBatch", duplicateKeys},
		{"InsertsAndRecomputes", insertsAndRecomputes},
		{"RecomputeLookup", recomputeLookup},
		{"FailedBatchLeavesNothing", failedBatchLeavesNothing},
		{"LargeBatchIsChunkedInOneTransaction", largeBatch},
		{"CheckpointRoundTrip", checkpointRoundTrip},
		{"ApplyIsIdempotentPerCheckpoint", idempotent},
		{"ConcurrentFlowsAddExactly", concurrentFlows},
		{"NotMigrated", notMigrated},
		{"Migrate", migrate},
		{"HostileIdentifiersAreQuoted", hostileIdentifiers},
		{"CheckTable", checkTable},
		{"SnapshotsAndCompareAndSet", snapshots},
		{"GoFunctionState", goFunctionState},
		{"FlowErrors", flowErrors},
		{"ReadTables", readTables},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

// T is a store under test.
type T struct {
	Store
	t *testing.T
	h Harness
}

// Open opens a store and migrates it unless bare.
func Open(t *testing.T, h Harness, bare bool) *T {
	t.Helper()
	s := &T{Store: h.Open(t), t: t, h: h}
	if !bare {
		if _, err := s.Migrate(context.Background(), MigrationsDir); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Exec runs a statement on the store's pool.
func (s *T) Exec(query string, args ...any) {
	s.t.Helper()
	if _, err := s.DB().Exec(query, args...); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

func (s *T) apply(b *connectors.Batch) {
	s.t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		s.t.Fatal(err)
	}
}

// Dump returns every row of a table, ordered by its first column, each
// value quoted (NULL bare; times as RFC 3339 in UTC when the driver returns
// a time, as stored otherwise).
func (s *T) Dump(table string) []string {
	s.t.Helper()
	return Dump(s.t, s.DB(), s.h.quote(table))
}

// Dump is T.Dump for any pool and quoted table name.
func Dump(t testing.TB, db *sql.DB, quotedTable string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + quotedTable + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = Text(v)
		}
		out = append(out, strings.Join(parts, ","))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Text is how Dump writes one value.
func Text(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return strconv.Quote(string(v))
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.Quote(strconv.FormatInt(v, 10))
	case time.Time:
		return strconv.Quote(v.UTC().Format(time.RFC3339Nano))
	}
	return strconv.Quote(fmt.Sprint(v))
}

// Checkpoint is a test checkpoint at pos.
func Checkpoint(flow string, pos uint32) connectors.Checkpoint {
	return connectors.Checkpoint{
		Flow:       flow,
		Pos:        schema.Position{File: "mariadb-bin.000001", Pos: pos},
		GTID:       fmt.Sprintf("0-1-%d", pos),
		ServerID:   1,
		CommitTime: time.Date(2025, 11, 25, 10, 0, 0, int(pos)*1000, time.UTC),
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s =\n %q\nwant\n %q", what, got, want)
	}
}

func valuesRoundTrip(t *testing.T, h Harness) {
	s := Open(t, h, false)
	s.Exec(h.DDL["vals"])
	columns := []string{"id", "i", "u", "d", "s", "b", "ts"}
	leap := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	cet := time.Date(2024, 1, 1, 1, 0, 0, 1000, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		row  []any
		want string
	}{
		{"int64 min", []any{int64(1), int64(-9223372036854775808), nil, nil, nil, nil, nil}, `"1","-9223372036854775808",NULL,NULL,NULL,NULL,NULL`},
		{"int64 max", []any{int64(2), int64(9223372036854775807), nil, nil, nil, nil, nil}, `"2","9223372036854775807",NULL,NULL,NULL,NULL,NULL`},
		{"uint64 max", []any{int64(3), nil, uint64(18446744073709551615), nil, nil, nil, nil}, `"3",NULL,"18446744073709551615",NULL,NULL,NULL,NULL`},
		{"decimal exact", []any{int64(4), nil, nil, dec("-12345678901234567890123456789012345.123456789012345678901234567891"), nil, nil, nil},
			`"4",NULL,NULL,"-12345678901234567890123456789012345.123456789012345678901234567891",NULL,NULL,NULL`},
		{"emoji and quotes", []any{int64(5), nil, nil, nil, "😀 it's \"x\" \\ ünïcode", nil, nil}, `"5",NULL,NULL,NULL,"😀 it's \"x\" \\ ünïcode",NULL,NULL`},
		{"binary", []any{int64(6), nil, nil, nil, nil, []byte{0, '\'', '\\', 0xff}, nil}, `"6",NULL,NULL,NULL,NULL,"\x00'\\\xff",NULL`},
		{"time with microseconds", []any{int64(7), nil, nil, nil, nil, nil, leap},
			`"7",NULL,NULL,NULL,NULL,NULL,` + strconv.Quote(h.TimeText(leap))},
		{"time in another zone stored as UTC", []any{int64(8), nil, nil, nil, nil, nil, cet},
			`"8",NULL,NULL,NULL,NULL,NULL,` + strconv.Quote(h.TimeText(cet.UTC()))},
		{"all NULL", []any{int64(9), nil, nil, nil, nil, nil, nil}, `"9",NULL,NULL,NULL,NULL,NULL,NULL`},
		{"uint64 that fits in int64", []any{int64(10), nil, uint64(7), nil, nil, nil, nil}, `"10",NULL,"7",NULL,NULL,NULL,NULL`},
	}
	var rows [][]any
	for _, tt := range tests {
		rows = append(rows, tt.row)
	}
	s.apply(&connectors.Batch{
		Upserts:    []connectors.Upsert{{Table: "vals", Key: []string{"id"}, Columns: columns, Rows: rows}},
		Checkpoint: Checkpoint("values", 100),
	})
	got := s.Dump("vals")
	for i, tt := range tests {
		want := tt.want
		if i >= len(got) || got[i] != want {
			g := "<missing>"
			if i < len(got) {
				g = got[i]
			}
			t.Errorf("%s: got %s, want %s", tt.name, g, want)
		}
	}

	// Upserting again replaces; deleting removes.
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "vals", Key: []string{"id"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(404)}}}},
		Upserts:    []connectors.Upsert{{Table: "vals", Key: []string{"id"}, Columns: []string{"id", "s"}, Rows: [][]any{{int64(3), "new"}}}},
		Checkpoint: Checkpoint("values", 200),
	})
	got = s.Dump("vals")
	if len(got) != len(tests)-2 {
		t.Fatalf("after delete: %d rows, want %d: %q", len(got), len(tests)-2, got)
	}
	if want := `"3",NULL,"18446744073709551615",NULL,"new",NULL,NULL`; got[0] != want {
		t.Errorf("after upsert of some columns: %s, want %s (other columns kept)", got[0], want)
	}
}

func deltasAreExact(t *testing.T, h Harness) {
	s := Open(t, h, false)
	const n = 10_000
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(1), int64(1), dec("0.01")}
	}
	rows = append(rows, []any{int64(2), int64(3), dec("-99999999999999999999999999.99")})
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: rows}},
		Checkpoint: Checkpoint("totals", 100),
	})
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","10000","100.00"`, `"2","3","-99999999999999999999999999.99"`})
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"}, Columns: []string{"order_count", "total_amount"},
			Rows: [][]any{{int64(1), int64(-1), dec("-0.01")}, {int64(2), int64(1), dec("0.02")}}}},
		Checkpoint: Checkpoint("totals", 200),
	})
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","9999","99.99"`, `"2","4","-99999999999999999999999999.97"`})
}

func deleteWhenZero(t *testing.T, h Harness) {
	s := Open(t, h, false)
	s.Exec("INSERT INTO customer_totals VALUES (1, 2, '20.00'), (2, 1, '10.00'), (3, 0, '0.00'), (4, 1, '5.00')")
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{
			Table: "customer_totals", Key: []string{"customer_id"}, Columns: []string{"order_count", "total_amount"},
			Rows: [][]any{
				{int64(1), int64(-1), dec("-10.00")}, // 1 left: stays
				{int64(2), int64(-1), dec("-10.00")}, // 0: deleted
				{int64(5), int64(1), dec("1.00")},    // new group
				{int64(5), int64(-1), dec("-1.00")},  // and gone in the same batch
			},
			DeleteWhenZero: "order_count",
		}},
		Checkpoint: Checkpoint("zero", 100),
	})
	// Customer 3 is at zero but untouched: it stays.
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","1","10.00"`, `"3","0","0.00"`, `"4","1","5.00"`})
}

func deleteCompositeKey(t *testing.T, h Harness) {
	s := Open(t, h, false)
	s.Exec(h.DDL["daily"])
	day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{Table: "daily", Key: []string{"day", "shop"}, Columns: []string{"n"},
			Rows: [][]any{{day(1), "a", int64(1)}, {day(1), "b", int64(2)}, {day(2), "a", int64(3)}}}},
		Checkpoint: Checkpoint("daily", 100),
	})
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "daily", Key: []string{"day", "shop"}, Keys: [][]any{{day(1), "b"}, {day(2), "a"}, {day(3), "a"}}}},
		Checkpoint: Checkpoint("daily", 200),
	})
	equal(t, "daily", s.Dump("daily"), []string{strconv.Quote(h.TimeText(day(1))) + `,"a","1"`})
}

// duplicateKeys: a batch whose upsert and delta lists repeat a key (which
// producers avoid, but a store must not mangle): the last upsert wins,
// deltas add up.
func duplicateKeys(t *testing.T, h Harness) {
	s := Open(t, h, false)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cols := []string{"id", "customer_id", "amount", "status", "created_at"}
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: cols, Rows: [][]any{
			{int64(1), int64(1), dec("1.00"), "new", created},
			{int64(2), int64(1), dec("2.00"), "new", created},
			{int64(1), int64(1), dec("1.50"), "paid", created},
		}}},
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"}, Columns: []string{"order_count", "total_amount"},
			Rows: [][]any{{int64(1), int64(1), dec("1.00")}, {int64(1), int64(1), int64(2)}, {int64(1), int64(0), dec("0.50")}}}},
		Checkpoint: Checkpoint("dups", 100),
	})
	ts := strconv.Quote(h.TimeText(created))
	equal(t, "orders_copy", s.Dump("orders_copy"), []string{`"1","1","1.50","paid",` + ts, `"2","1","2.00","new",` + ts})
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","2","3.50"`})
}

// insertsAndRecomputes: append-only inserts, and recomputed MIN, MAX and
// COUNT over a state table and a ratio, after the batch's deltas.
func insertsAndRecomputes(t *testing.T, h Harness) {
	s := Open(t, h, false)
	for _, name := range []string{"history", "state", "stats"} {
		s.Exec(h.DDL[name])
	}
	s.apply(&connectors.Batch{
		Inserts: []connectors.Insert{{Table: "history", Columns: []string{"seq", "what"}, Rows: [][]any{{int64(1), "a"}, {int64(2), "b"}}}},
		Deltas: []connectors.Delta{
			{Table: "state", Key: []string{"g", "v"}, Columns: []string{"n"}, DeleteWhenZero: "n",
				Rows: [][]any{{int64(1), dec("9.50"), int64(1)}, {int64(1), dec("10.00"), int64(2)}, {int64(1), dec("-3.25"), int64(1)}, {int64(2), dec("7.00"), int64(1)}}},
			{Table: "stats", Key: []string{"g"}, Columns: []string{"cnt", "total"},
				Rows: [][]any{{int64(1), int64(4), dec("25.25")}, {int64(2), int64(1), dec("7.00")}}},
		},
		Recomputes: []connectors.Recompute{{Table: "stats", Key: []string{"g"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(3)}}, Set: []connectors.Computed{
			{Column: "lo", Func: "min", State: "state", Of: "v"},
			{Column: "hi", Func: "max", State: "state", Of: "v"},
			{Column: "distinct_v", Func: "count", State: "state"},
			{Column: "mean", Func: "div", Num: "total", Den: "cnt"},
		}}},
		Checkpoint: Checkpoint("kinds", 100),
	})
	equal(t, "history", s.Dump("history"), []string{`"1","a"`, `"2","b"`})
	stats := s.Dump("stats")
	want := []string{`"1","4","25.25","-3.25","10.00","3","6.31`, `"2","1","7.00","7.00","7.00","1","7.00`}
	for i, w := range want {
		if i >= len(stats) || !strings.HasPrefix(stats[i], w) {
			t.Fatalf("stats = %q, want rows starting %q (mean rounded to the column's scale or more digits)", stats, want)
		}
	}
	// A second append of an existing key fails: history never replaces.
	err := s.Apply(context.Background(), &connectors.Batch{
		Inserts:    []connectors.Insert{{Table: "history", Columns: []string{"seq", "what"}, Rows: [][]any{{int64(2), "again"}}}},
		Checkpoint: Checkpoint("kinds", 200),
	})
	if err == nil {
		t.Fatal("inserting a duplicate key succeeded")
	}
}

// recomputeLookup: a maintained join's recompute copies a column of the
// state row matching each row (NULL without one), by the rows' key and by
// their match column; here vals.s from history.what where seq = vals.i.
func recomputeLookup(t *testing.T, h Harness) {
	s := Open(t, h, false)
	for _, name := range []string{"vals", "history"} {
		s.Exec(h.DDL[name])
	}
	set := []connectors.Computed{{Column: "s", Func: "lookup", State: "history", Of: "what", Match: []string{"i"}, StateKey: []string{"seq"}}}
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{
			{Table: "history", Key: []string{"seq"}, Columns: []string{"seq", "what"}, Rows: [][]any{{int64(7), "ann"}, {int64(8), "bob"}}},
			{Table: "vals", Key: []string{"id"}, Columns: []string{"id", "i", "s"},
				Rows: [][]any{{int64(1), int64(7), nil}, {int64(2), int64(9), nil}, {int64(3), nil, nil}, {int64(4), int64(8), nil}}},
		},
		Recomputes: []connectors.Recompute{{Table: "vals", Key: []string{"id"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(3)}, {int64(4)}}, Set: set}},
		Checkpoint: Checkpoint("lookup", 100),
	})
	check := func(want []string) {
		t.Helper()
		got := s.Dump("vals")
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.HasPrefix(got[i], want[i])
		}
		if !ok {
			t.Fatalf("vals = %q, want rows starting %q", got, want)
		}
	}
	check([]string{`"1","7",NULL,NULL,"ann"`, `"2","9",NULL,NULL,NULL`, `"3",NULL,NULL,NULL,NULL`, `"4","8",NULL,NULL,"bob"`})
	// history 7 renamed, 8 deleted, 9 added: the rows matching them change.
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "history", Key: []string{"seq"}, Keys: [][]any{{int64(8)}}}},
		Upserts:    []connectors.Upsert{{Table: "history", Key: []string{"seq"}, Columns: []string{"seq", "what"}, Rows: [][]any{{int64(7), "anne"}, {int64(9), "cy"}}}},
		Recomputes: []connectors.Recompute{{Table: "vals", Key: []string{"i"}, Keys: [][]any{{int64(7)}, {int64(8)}, {int64(9)}}, Set: set}},
		Checkpoint: Checkpoint("lookup", 200),
	})
	check([]string{`"1","7",NULL,NULL,"anne"`, `"2","9",NULL,NULL,"cy"`, `"3",NULL,NULL,NULL,NULL`, `"4","8",NULL,NULL,NULL`})
}

func failedBatchLeavesNothing(t *testing.T, h Harness) {
	s := Open(t, h, false)
	const flow = "atomic"
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cols := []string{"id", "customer_id", "amount", "status", "created_at"}
	seed := &connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: cols,
			Rows: [][]any{{int64(1), int64(7), dec("1.50"), "new", created}, {int64(2), int64(7), dec("2.50"), "new", created}}}},
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(7), int64(2), dec("4.00")}}}},
		Checkpoint: Checkpoint(flow, 100),
	}
	s.apply(seed)
	okDelete := connectors.Delete{Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{int64(1)}}}
	okUpsert := connectors.Upsert{Table: "orders_copy", Key: []string{"id"}, Columns: cols,
		Rows: [][]any{{int64(3), int64(8), dec("9.99"), "new", created}}}
	okDelta := connectors.Delta{Table: "customer_totals", Key: []string{"customer_id"},
		Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(7), int64(-1), dec("-1.50")}, {int64(8), int64(1), dec("9.99")}}}
	tests := []struct {
		name     string
		batch    connectors.Batch
		wantText []string
	}{
		{"third statement: upsert into a missing table", connectors.Batch{
			Deletes: []connectors.Delete{okDelete},
			Upserts: []connectors.Upsert{okUpsert, {Table: "no_such_table", Key: []string{"id"}, Columns: []string{"id"}, Rows: [][]any{{int64(1)}}}},
			Deltas:  []connectors.Delta{okDelta},
		}, []string{"no_such_table"}},
		{"delta into a missing column after other deltas", connectors.Batch{
			Deletes: []connectors.Delete{okDelete},
			Upserts: []connectors.Upsert{okUpsert},
			Deltas: []connectors.Delta{okDelta, {Table: "customer_totals", Key: []string{"customer_id"},
				Columns: []string{"no_such_column"}, Rows: [][]any{{int64(9), int64(1)}}}},
		}, []string{"customer_totals", "no_such_column"}},
		{"value too long", connectors.Batch{
			Deletes: []connectors.Delete{okDelete},
			Upserts: []connectors.Upsert{okUpsert, {Table: "orders_copy", Key: []string{"id"}, Columns: cols,
				Rows: [][]any{{int64(4), int64(8), dec("1.00"), h.TooLong, created}}}},
			Deltas: []connectors.Delta{okDelta},
		}, []string{"orders_copy"}},
		{"delete-when-zero on a missing column", connectors.Batch{
			Deletes: []connectors.Delete{okDelete},
			Upserts: []connectors.Upsert{okUpsert},
			Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
				Columns: []string{"order_count", "total_amount"}, Rows: okDelta.Rows, DeleteWhenZero: "no_such_count"}},
		}, []string{"customer_totals", "no_such_count"}},
		{"NULL key", connectors.Batch{
			Deletes: []connectors.Delete{okDelete, {Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{nil}}}},
			Upserts: []connectors.Upsert{okUpsert},
		}, []string{"orders_copy", "NULL"}},
		{"float delta", connectors.Batch{
			Deletes: []connectors.Delete{okDelete},
			Deltas: []connectors.Delta{okDelta, {Table: "customer_totals", Key: []string{"customer_id"},
				Columns: []string{"total_amount"}, Rows: [][]any{{int64(7), 0.1}}}},
		}, []string{"customer_totals", "float64"}},
	}
	before := map[string][]string{"orders_copy": s.Dump("orders_copy"), "customer_totals": s.Dump("customer_totals")}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.batch
			b.Checkpoint = Checkpoint(flow, uint32(1000+i))
			err := s.Apply(context.Background(), &b)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			t.Log(err)
			want := append(slices.Clone(tt.wantText), "flow "+flow)
			for _, w := range append(want, h.FailedBatchErrors[tt.name]...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if s.Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
			for table, want := range before {
				if got := s.Dump(table); !reflect.DeepEqual(got, want) {
					t.Errorf("%s changed by a failed batch:\n got %q\nwant %q", table, got, want)
				}
			}
			cp, ok, err := s.LoadCheckpoint(context.Background(), flow)
			if err != nil || !ok || cp.Pos != seed.Checkpoint.Pos {
				t.Errorf("checkpoint = %v, %v, %v; want %v", cp.Pos, ok, err, seed.Checkpoint.Pos)
			}
		})
	}
}

func largeBatch(t *testing.T, h Harness) {
	s := Open(t, h, false)
	s.Exec(h.DDL["wide"])
	n := h.LargeBatchRows
	if n == 0 {
		n = 20_000
	}
	rows := make([][]any, n)
	pad := strings.Repeat("w", 600)
	for i := range rows {
		rows[i] = []any{int64(i + 1), int64(i % 97), decimal.New(int64(i), -2), pad, time.Unix(int64(i), 0).UTC()}
	}
	upsert := connectors.Upsert{Table: "wide", Key: []string{"id"}, Columns: []string{"id", "k", "amount", "pad", "at"}, Rows: rows}
	failing := &connectors.Batch{
		Upserts:    []connectors.Upsert{upsert},
		Deltas:     []connectors.Delta{{Table: "missing_totals", Key: []string{"k"}, Columns: []string{"n"}, Rows: [][]any{{int64(1), int64(1)}}}},
		Checkpoint: Checkpoint("large", 100),
	}
	if err := s.Apply(context.Background(), failing); err == nil || !strings.Contains(err.Error(), "missing_totals") {
		t.Fatalf("Apply of failing batch: %v", err)
	}
	count := func() int {
		var c int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM wide").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := count(); c != 0 {
		t.Fatalf("%d rows persisted from a failed batch", c)
	}
	start := time.Now()
	s.apply(&connectors.Batch{Upserts: []connectors.Upsert{upsert}, Checkpoint: Checkpoint("large", 100)})
	t.Logf("applied %d rows in %s", n, time.Since(start))
	if c := count(); c != n {
		t.Fatalf("wide has %d rows, want %d", c, n)
	}
	// Every row whole: id, k and the exact amount.
	got := s.Dump("wide")
	for i, row := range got {
		if want := fmt.Sprintf(`"%d","%d","%s",`, i+1, i%97, decimal.New(int64(i), -2).StringFixed(2)); !strings.HasPrefix(row, want) {
			t.Fatalf("row %d of wide: %.60s, want it to start %s", i+1, row, want)
		}
	}
}

func checkpointRoundTrip(t *testing.T, h Harness) {
	s := Open(t, h, false)
	ctx := context.Background()
	if _, ok, err := s.LoadCheckpoint(ctx, "nobody"); ok || err != nil {
		t.Fatalf("LoadCheckpoint of an unknown flow = %v, %v; want false, nil", ok, err)
	}
	tests := []connectors.Checkpoint{
		{Flow: "b-flow", Pos: schema.Position{File: "mysql-bin.000042", Pos: 4294967295}, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77",
			ServerID: 4294967295, ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562", CommitTime: time.Date(2025, 11, 25, 12, 30, 1, 999999000, time.UTC)},
		{Flow: "a-flow 😀", Pos: schema.Position{File: "mariadb-bin.000001", Pos: 4}, ServerID: 1},
		{Flow: "A-FLOW 😀", Pos: schema.Position{File: "mariadb-bin.000002", Pos: 5}, ServerID: 1}, // flow names are case-sensitive
	}
	for _, c := range tests {
		s.apply(&connectors.Batch{Checkpoint: c})
		got, ok, err := s.LoadCheckpoint(ctx, c.Flow)
		if err != nil || !ok {
			t.Fatalf("LoadCheckpoint(%q) = %v, %v", c.Flow, ok, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("LoadCheckpoint(%q) =\n%+v\nwant\n%+v", c.Flow, got, c)
		}
	}
	moved := tests[1]
	moved.Pos.Pos = 1234
	moved.CommitTime = time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC)
	s.apply(&connectors.Batch{Checkpoint: moved})
	all, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []connectors.Checkpoint{tests[2], moved, tests[0]}; !reflect.DeepEqual(all, want) {
		t.Errorf("Checkpoints =\n%+v\nwant (byte order of flow names)\n%+v", all, want)
	}
}

func idempotent(t *testing.T, h Harness) {
	s := Open(t, h, false)
	batch := &connectors.Batch{
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(1), int64(1), dec("5.00")}}}},
		Checkpoint: Checkpoint("idem", 100),
	}
	// As if the first COMMIT succeeded but its reply was lost, and the
	// caller retried the same batch.
	s.apply(batch)
	s.apply(batch)
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","1","5.00"`})
	next := *batch
	next.Checkpoint = Checkpoint("idem", 200)
	s.apply(&next)
	equal(t, "customer_totals", s.Dump("customer_totals"), []string{`"1","2","10.00"`})
}

// concurrentFlows runs flows in parallel, each adding to the same rows,
// retrying retryable errors as the engine does; every batch counts once.
func concurrentFlows(t *testing.T, h Harness) {
	s := Open(t, h, false)
	const flows, batches = 4, 40
	errs := make(chan error, flows)
	for f := range flows {
		go func() {
			flow := fmt.Sprintf("concurrent-%d", f)
			for i := range batches {
				b := &connectors.Batch{
					Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
						Columns: []string{"order_count", "total_amount"},
						Rows:    [][]any{{int64(i % 3), int64(1), dec("0.10")}, {int64(100 + f), int64(1), dec("1.00")}}}},
					Checkpoint: Checkpoint(flow, uint32(i+1)),
				}
				for attempt := 1; ; attempt++ {
					err := s.Apply(context.Background(), b)
					if err == nil {
						break
					}
					if !s.Retryable(err) || attempt == 20 {
						errs <- err
						return
					}
					time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
				}
			}
			errs <- nil
		}()
	}
	for range flows {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := s.Dump("customer_totals")
	want := []string{`"0","56","5.60"`, `"1","52","5.20"`, `"2","52","5.20"`}
	for f := range flows {
		want = append(want, fmt.Sprintf(`"%d","%d","%d.00"`, 100+f, batches, batches))
	}
	equal(t, "customer_totals", got, want)
	cps, err := s.Checkpoints(context.Background())
	if err != nil || len(cps) != flows {
		t.Fatalf("Checkpoints = %d, %v", len(cps), err)
	}
	for _, cp := range cps {
		if cp.Pos.Pos != batches {
			t.Errorf("flow %s at %d, want %d", cp.Flow, cp.Pos.Pos, batches)
		}
	}
}

func notMigrated(t *testing.T, h Harness) {
	s := Open(t, h, true)
	ctx := context.Background()
	_, _, loadErr := s.LoadCheckpoint(ctx, "f")
	_, listErr := s.Checkpoints(ctx)
	applyErr := s.Apply(ctx, &connectors.Batch{Checkpoint: Checkpoint("f", 1)})
	for name, err := range map[string]error{"LoadCheckpoint": loadErr, "Checkpoints": listErr, "Apply": applyErr} {
		if err == nil {
			t.Errorf("%s succeeded on a database without binflow_checkpoints", name)
			continue
		}
		if !strings.Contains(err.Error(), "binflow migrate -c <config>") {
			t.Errorf("%s error %q does not say to run binflow migrate", name, err)
		}
		if !errors.Is(err, h.ErrNotMigrated) {
			t.Errorf("%s error %q is not ErrNotMigrated", name, err)
		}
		if s.Retryable(err) {
			t.Errorf("%s error is retryable", name)
		}
	}
}

func migrationFiles(t *testing.T, h Harness) []string {
	entries, err := os.ReadDir(filepath.Join(MigrationsDir, h.MigrationsSubdir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

func migrate(t *testing.T, h Harness) {
	s := Open(t, h, true)
	ctx := context.Background()
	files := migrationFiles(t, h)
	applied, err := s.Migrate(ctx, MigrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "first Migrate applied", applied, files)
	for table, key := range map[string][]string{"binflow_checkpoints": {"flow"}, "orders_copy": {"id"}, "customer_totals": {"customer_id"}, "big_orders": {"id"},
		"binflow_snapshots": {"flow"}, "binflow_state": {"flow", "function", "k"}, "binflow_flow_errors": {"flow"}} {
		if err := s.CheckTable(ctx, table, key); err != nil {
			t.Errorf("table %s after Migrate: %v", table, err)
		}
	}
	applied, err = s.Migrate(ctx, MigrationsDir)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate = %q, %v; want nothing applied", applied, err)
	}

	// A folder with one more file applies only that one.
	dir := t.TempDir()
	sub := filepath.Join(dir, h.MigrationsSubdir)
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(MigrationsDir, h.MigrationsSubdir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := "-- +goose Up\nCREATE TABLE extra (id INTEGER PRIMARY KEY);\nINSERT INTO extra VALUES (1);\n-- +goose Down\nDROP TABLE extra;\n"
	if err := os.WriteFile(filepath.Join(sub, "0099_extra.sql"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	applied, err = s.Migrate(ctx, dir)
	if err != nil || !reflect.DeepEqual(applied, []string{"0099_extra.sql"}) {
		t.Fatalf("Migrate with a new file = %q, %v", applied, err)
	}
	var recorded []string
	rows, err := s.DB().Query("SELECT " + h.quote("name") + " FROM " + h.quote("binflow_migrations") + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, n)
	}
	rows.Close()
	equal(t, "binflow_migrations", recorded, append(slices.Clone(files), "0099_extra.sql"))

	// A broken file fails with its name, is not recorded, and leaves nothing
	// of itself where DDL is transactional.
	broken := "-- +goose Up\nCREATE TABLE half (id INTEGER PRIMARY KEY);\nCREATE TABLEX nope;\n"
	if err := os.WriteFile(filepath.Join(sub, "0100_broken.sql"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx, dir); err == nil || !strings.Contains(err.Error(), "0100_broken.sql") {
		t.Fatalf("Migrate with a broken file: %v", err)
	}
	if err := s.CheckTable(ctx, "half", []string{"id"}); !h.NonTransactionalDDL && (err == nil || !strings.Contains(err.Error(), "does not exist")) {
		t.Errorf("table half of the failed migration: %v; want it rolled back", err)
	}
	if n := len(Dump(t, s.DB(), h.quote("binflow_migrations"))); n != len(files)+1 {
		t.Errorf("binflow_migrations has %d rows after the broken file, want %d", n, len(files)+1)
	}
	if _, err := s.Migrate(ctx, filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("Migrate of a missing folder succeeded")
	}
}

// hostileIdentifiers: names holding either quote character (ANSI's and
// MySQL's), SQL fragments and unicode stay names, unqualified or qualified
// with the schema.
func hostileIdentifiers(t *testing.T, h Harness) {
	s := Open(t, h, false)
	const (
		table  = "we\"ird`; DROP TABLE x"
		id     = "i\"d`"
		value  = "v'; DELETE FROM x; --"
		count  = "n ü€ 中"
		victim = "x"
		text   = "\"`; DROP TABLE x; --"
	)
	s.Exec("CREATE TABLE " + h.quote(victim) + " (id INTEGER PRIMARY KEY)")
	s.Exec("INSERT INTO " + h.quote(victim) + " VALUES (1)")
	s.Exec(fmt.Sprintf(h.DDL["hostile"], h.quote(table), h.quote(id), h.quote(value), h.quote(count)))
	qualified := h.Schema(s.Store) + "." + table
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: table, Key: []string{id}, Columns: []string{id, value},
			Rows: [][]any{{int64(1), text}, {int64(2), "b"}}}},
		Deltas: []connectors.Delta{{Table: table, Key: []string{id}, Columns: []string{count},
			Rows: [][]any{{int64(1), int64(5)}, {int64(2), int64(0)}}, DeleteWhenZero: count}},
		Checkpoint: Checkpoint("hostile", 100),
	})
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: qualified, Key: []string{id}, Keys: [][]any{{int64(3)}}}},
		Checkpoint: Checkpoint("hostile", 200),
	})
	equal(t, table, s.Dump(table), []string{`"1",` + strconv.Quote(text) + `,"5"`})
	equal(t, "table x", s.Dump(victim), []string{`"1"`})
	for _, name := range []string{table, qualified} {
		if err := s.CheckTable(context.Background(), name, []string{id}); err != nil {
			t.Errorf("CheckTable(%q): %v", name, err)
		}
	}
	err := s.Apply(context.Background(), &connectors.Batch{
		Upserts:    []connectors.Upsert{{Table: "t\x00", Key: []string{"a"}, Columns: []string{"a"}, Rows: [][]any{{1}}}},
		Checkpoint: Checkpoint("hostile", 300),
	})
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Apply with a NUL in a table name: %v", err)
	}
}

func checkTable(t *testing.T, h Harness) {
	s := Open(t, h, false)
	s.Exec("CREATE TABLE nokey (a INTEGER, b INTEGER)")
	s.Exec("CREATE TABLE twokeys (a INTEGER PRIMARY KEY, b INTEGER NOT NULL)")
	s.Exec("CREATE UNIQUE INDEX twokeys_b ON twokeys (b)")
	s.Exec("CREATE TABLE composite (a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER, PRIMARY KEY (b, a))")
	tests := []struct {
		table string
		key   []string
		want  string // "" for no error
	}{
		{"orders_copy", []string{"id"}, ""},
		{"composite", []string{"a", "b"}, ""},
		{"composite", []string{"a"}, "besides the flow's key (a)"},
		{"nokey", []string{"a"}, "has no primary or unique key"},
		{"twokeys", []string{"a"}, "twokeys_b (b) besides"},
		{"missing", []string{"a"}, "does not exist"},
		{"no_schema.orders_copy", []string{"id"}, "does not exist"},
	}
	for _, tt := range tests {
		err := s.CheckTable(context.Background(), tt.table, tt.key)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckTable(%s, %v): %v", tt.table, tt.key, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckTable(%s, %v) = %v; want an error containing %q", tt.table, tt.key, err, tt.want)
		}
	}
}

// snapshotStore is what `binflow rebuild`, `reset` and the engine's
// snapshots need of a store.
type snapshotStore interface {
	LoadSnapshot(ctx context.Context, flow string) (connectors.SnapshotProgress, bool, error)
	Snapshots(ctx context.Context) (map[string]connectors.SnapshotProgress, error)
	ApplySnapshot(ctx context.Context, b *connectors.Batch, prev, next *connectors.SnapshotProgress) error
	ApplyAfter(ctx context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error
	RequestRebuild(ctx context.Context, flow string, tables []string, serverID uint32, serverUUID string) (int64, error)
	SetCheckpoint(ctx context.Context, c connectors.Checkpoint) (connectors.Checkpoint, bool, error)
	TableEmpty(ctx context.Context, table string) (bool, error)
}

func snapshots(t *testing.T, h Harness) {
	s := Open(t, h, false)
	ss, ok := s.Store.(snapshotStore)
	if !ok {
		t.Fatalf("%T does not implement the snapshot methods", s.Store)
	}
	ctx := context.Background()
	const flow = "snap"
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(id int64) []any { return []any{id, int64(1), dec("1.00"), "new", created} }
	upsert := func(ids ...int64) []connectors.Upsert {
		u := connectors.Upsert{Table: "orders_copy", Key: []string{"id"}, Columns: []string{"id", "customer_id", "amount", "status", "created_at"}}
		for _, id := range ids {
			u.Rows = append(u.Rows, row(id))
		}
		return []connectors.Upsert{u}
	}
	if empty, err := ss.TableEmpty(ctx, "orders_copy"); err != nil || !empty {
		t.Fatalf("TableEmpty = %v, %v", empty, err)
	}
	first := connectors.SnapshotProgress{Flow: flow, Pos: Checkpoint(flow, 50).Pos, ServerID: 1, TableName: "shop.orders",
		LastKey: `[1]`, Rows: 1, Estimate: 1 << 62, Started: time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC)}
	if err := ss.ApplySnapshot(ctx, &connectors.Batch{Upserts: upsert(1)}, nil, &first); err != nil {
		t.Fatal(err)
	}
	if err := ss.ApplySnapshot(ctx, &connectors.Batch{Upserts: upsert(1)}, nil, &first); err != nil {
		t.Fatalf("the same snapshot batch again (committed before): %v", err)
	}
	got, ok, err := ss.LoadSnapshot(ctx, flow)
	if err != nil || !ok || !reflect.DeepEqual(got, first) {
		t.Fatalf("LoadSnapshot = %+v, %v, %v; want %+v", got, ok, err, first)
	}
	if all, err := ss.Snapshots(ctx); err != nil || len(all) != 1 {
		t.Fatalf("Snapshots = %v, %v", all, err)
	}
	// A writer that lost track (wrong prev) writes nothing.
	if err := ss.ApplySnapshot(ctx, &connectors.Batch{Upserts: upsert(9)}, nil, &first); err != nil {
		t.Fatalf("replaying the first batch: %v", err)
	}
	second := first
	second.LastKey, second.Rows = `[2]`, 2
	if err := ss.ApplySnapshot(ctx, &connectors.Batch{Upserts: upsert(2)}, nil, &second); !errors.Is(err, connectors.ErrCheckpointMoved) {
		t.Fatalf("ApplySnapshot over other progress: %v, want ErrCheckpointMoved", err)
	}
	// Finishing: the progress goes, the checkpoint comes.
	done := Checkpoint(flow, 60)
	if err := ss.ApplySnapshot(ctx, &connectors.Batch{Upserts: upsert(2), Checkpoint: done}, &first, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ss.LoadSnapshot(ctx, flow); ok || err != nil {
		t.Fatalf("progress after the snapshot finished: %v, %v", ok, err)
	}
	if cp, ok, err := s.LoadCheckpoint(ctx, flow); err != nil || !ok || cp.Pos != done.Pos {
		t.Fatalf("checkpoint after the snapshot = %v, %v, %v", cp.Pos, ok, err)
	}
	// Compare-and-set commits.
	next := &connectors.Batch{Upserts: upsert(3), Checkpoint: Checkpoint(flow, 70)}
	if err := ss.ApplyAfter(ctx, next, nil); !errors.Is(err, connectors.ErrCheckpointMoved) {
		t.Fatalf("ApplyAfter with a stale prev: %v", err)
	}
	if err := ss.ApplyAfter(ctx, next, &done); err != nil {
		t.Fatal(err)
	}
	if err := ss.ApplyAfter(ctx, next, &done); err != nil {
		t.Fatalf("ApplyAfter of a committed batch: %v", err)
	}
	if n := len(s.Dump("orders_copy")); n != 3 {
		t.Fatalf("orders_copy has %d rows, want 3", n)
	}
	// Rebuild empties the tables and asks for a snapshot; reset sets the checkpoint.
	deleted, err := ss.RequestRebuild(ctx, flow, []string{"orders_copy"}, 1, "")
	if err != nil || deleted != 3 {
		t.Fatalf("RequestRebuild = %d, %v", deleted, err)
	}
	if p, ok, err := ss.LoadSnapshot(ctx, flow); err != nil || !ok || p.Pos.File != "" {
		t.Fatalf("progress after rebuild = %+v, %v, %v", p, ok, err)
	}
	if _, ok, _ := s.LoadCheckpoint(ctx, flow); ok {
		t.Fatal("checkpoint kept by rebuild")
	}
	old, had, err := ss.SetCheckpoint(ctx, Checkpoint(flow, 80))
	if err != nil || had {
		t.Fatalf("SetCheckpoint = %v, %v, %v", old, had, err)
	}
	if _, ok, _ := ss.LoadSnapshot(ctx, flow); ok {
		t.Fatal("progress kept by SetCheckpoint")
	}
}

// BenchmarkUpsert applies batches of 5000 orders_copy rows (the default
// batch size), half of them updates, and reports rows per second.
func BenchmarkUpsert(b *testing.B, s Store) {
	if _, err := s.Migrate(context.Background(), MigrationsDir); err != nil {
		b.Fatal(err)
	}
	const rowsPerBatch = 5000
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := &connectors.Batch{Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"},
		Columns: []string{"id", "customer_id", "amount", "status", "created_at"}}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rows := make([][]any, rowsPerBatch)
		for j := range rows {
			id := int64(i*rowsPerBatch/2 + j)
			rows[j] = []any{id, id % 100, decimal.New(id, -2), "paid", created}
		}
		batch.Upserts[0].Rows = rows
		batch.Checkpoint = Checkpoint("bench", uint32(i+1))
		if err := s.Apply(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rowsPerBatch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDelta applies batches of 5000 customer_totals deltas (an
// aggregate's writes: count and exact sum per group, 1000 groups).
func BenchmarkDelta(b *testing.B, s Store) {
	if _, err := s.Migrate(context.Background(), MigrationsDir); err != nil {
		b.Fatal(err)
	}
	const rowsPerBatch = 1000
	batch := &connectors.Batch{Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
		Columns: []string{"order_count", "total_amount"}, DeleteWhenZero: "order_count"}}}
	rows := make([][]any, rowsPerBatch)
	for j := range rows {
		rows[j] = []any{int64(j), int64(1), dec("12.34")}
	}
	batch.Deltas[0].Rows = rows
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch.Checkpoint = Checkpoint("bench", uint32(i+1))
		if err := s.Apply(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rowsPerBatch)/b.Elapsed().Seconds(), "rows/s")
}

// tableReader is what binflow verify reads a store with (PostgreSQL and
// SQLite; a MySQL downstream is read by the snapshot reader instead).
type tableReader interface {
	ReadTables(ctx context.Context, flow string, tables []string, fn func(table string, columns []string, row []any) error) (connectors.Checkpoint, bool, error)
}

// readTables: a flow's checkpoint and its tables' rows, typed so that
// numbers and times compare by value, and the read leaves no transaction
// open, also when it stops half way.
func readTables(t *testing.T, h Harness) {
	s := Open(t, h, false)
	r, ok := s.Store.(tableReader)
	if !ok {
		t.Skipf("%T reads its tables through the snapshot reader", s.Store)
	}
	s.Exec(h.DDL["vals"])
	ts := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	cp := Checkpoint("reader", 100)
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "vals", Key: []string{"id"}, Columns: []string{"id", "i", "d", "s", "b", "ts"},
			Rows: [][]any{{int64(1), int64(-5), dec("12.50"), "x", []byte{0, 1}, ts}, {int64(2), nil, nil, nil, nil, nil}}}},
		Checkpoint: cp,
	})
	ctx := context.Background()
	var got []map[string]any
	gotCP, ok, err := r.ReadTables(ctx, "reader", []string{"vals"}, func(table string, columns []string, row []any) error {
		if table != "vals" {
			t.Errorf("row of table %q, want vals", table)
		}
		m := map[string]any{}
		for i, c := range columns {
			m[c] = row[i]
		}
		got = append(got, m)
		return nil
	})
	if err != nil || !ok {
		t.Fatalf("ReadTables: ok %v, err %v", ok, err)
	}
	if gotCP.Pos != cp.Pos || gotCP.GTID != cp.GTID || !gotCP.CommitTime.Equal(cp.CommitTime) {
		t.Errorf("checkpoint %+v, want %+v", gotCP, cp)
	}
	if len(got) != 2 {
		t.Fatalf("%d rows, want 2: %v", len(got), got)
	}
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]["id"]) < fmt.Sprint(got[j]["id"]) })
	row := got[0]
	if row["id"] != int64(1) || row["i"] != int64(-5) || row["s"] != "x" || !bytes.Equal(asBytes(row["b"]), []byte{0, 1}) {
		t.Errorf("row 1 = %v", row)
	}
	switch d := row["d"].(type) {
	case decimal.Decimal:
		if !d.Equal(dec("12.5")) {
			t.Errorf("d = %s, want 12.50", d)
		}
	case string: // SQLite keeps exact decimals as text
		if d != "12.50" {
			t.Errorf("d = %q, want \"12.50\"", d)
		}
	default:
		t.Errorf("d is %T %v, want a decimal or its text", d, d)
	}
	switch v := row["ts"].(type) {
	case time.Time:
		if !v.Equal(ts) {
			t.Errorf("ts = %s, want %s", v, ts)
		}
	case string:
		if v != h.TimeText(ts) {
			t.Errorf("ts = %q, want %q", v, h.TimeText(ts))
		}
	default:
		t.Errorf("ts is %T %v, want a time or its text", v, v)
	}
	for _, c := range []string{"i", "d", "s", "b", "ts"} {
		if got[1][c] != nil {
			t.Errorf("row 2 column %s = %v, want NULL", c, got[1][c])
		}
	}

	if _, ok, err := r.ReadTables(ctx, "nobody", []string{"vals"}, nil); ok || err != nil {
		t.Errorf("flow without a checkpoint: ok %v, err %v", ok, err)
	}
	stop := errors.New("stop")
	if _, _, err := r.ReadTables(ctx, "reader", []string{"vals"}, func(string, []string, []any) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("a read stopped by its callback returned %v", err)
	}
	// The store still writes: no read transaction was left open.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Apply(wctx, &connectors.Batch{Checkpoint: Checkpoint("reader", 200)}); err != nil {
		t.Fatalf("write after the reads: %v", err)
	}
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}
