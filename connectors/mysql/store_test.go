package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors"
	mysqlconn "github.com/binflow/binflow/connectors/mysql"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/testenv"
	"github.com/shopspring/decimal"
)

// migrationsDir is the repository's migrations folder.
const migrationsDir = "../../migrations"

// testStore is a store on a fresh downstream database.
type testStore struct {
	*mysqlconn.Store
	t        *testing.T
	database string
}

// openStore opens a store on a fresh database of the test downstream
// server, migrated unless bare is set.
func openStore(t *testing.T, bare bool) *testStore {
	t.Helper()
	admin := testenv.Downstream(t)
	name := testenv.FreshDatabase(t, admin, "conn")
	s, err := mysqlconn.Open(context.Background(), downstreamOptions(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ts := &testStore{Store: s, t: t, database: name}
	if !bare {
		if _, err := s.Migrate(context.Background(), migrationsDir); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

func downstreamOptions(t testing.TB, database string) mysqlconn.Options {
	t.Helper()
	host, port := testenv.DownstreamAddr()
	return mysqlconn.Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password, Database: database}
}

func (s *testStore) exec(query string, args ...any) {
	s.t.Helper()
	if _, err := s.DB().Exec(query, args...); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

func (s *testStore) apply(b *connectors.Batch) {
	s.t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		s.t.Fatal(err)
	}
}

// dump returns every row of a table, ordered by its first column, as text
// (DATETIME and DATE as RFC 3339 in UTC, as the driver parses them).
func (s *testStore) dump(table string) []string {
	s.t.Helper()
	q, err := mysqlconn.QuoteIdent(table)
	if err != nil {
		s.t.Fatal(err)
	}
	rows, err := s.DB().Query("SELECT * FROM " + q + " ORDER BY 1")
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			s.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "NULL"
			if v.Valid {
				parts[i] = strconv.Quote(v.String)
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func checkpoint(flow string, pos uint32) connectors.Checkpoint {
	return connectors.Checkpoint{
		Flow:       flow,
		Pos:        schema.Position{File: "mariadb-bin.000001", Pos: pos},
		GTID:       fmt.Sprintf("0-1-%d", pos),
		ServerID:   1,
		ServerUUID: "",
		CommitTime: time.Date(2025, 11, 25, 10, 0, 0, int(pos)*1000, time.UTC),
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestApplyValuesRoundTrip(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT NULL, u BIGINT UNSIGNED NULL, d DECIMAL(65,30) NULL," +
		" s VARCHAR(100) NULL, b VARBINARY(100) NULL, ts DATETIME(6) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	columns := []string{"id", "i", "u", "d", "s", "b", "ts"}
	tests := []struct {
		name string
		row  []any
		want string
	}{
		{"int64 min", []any{int64(1), int64(math.MinInt64), nil, nil, nil, nil, nil}, `"1","-9223372036854775808",NULL,NULL,NULL,NULL,NULL`},
		{"int64 max", []any{int64(2), int64(math.MaxInt64), nil, nil, nil, nil, nil}, `"2","9223372036854775807",NULL,NULL,NULL,NULL,NULL`},
		{"uint64 max", []any{int64(3), nil, uint64(math.MaxUint64), nil, nil, nil, nil}, `"3",NULL,"18446744073709551615",NULL,NULL,NULL,NULL`},
		{"decimal exact", []any{int64(4), nil, nil, dec("-12345678901234567890123456789012345.123456789012345678901234567891"), nil, nil, nil},
			`"4",NULL,NULL,"-12345678901234567890123456789012345.123456789012345678901234567891",NULL,NULL,NULL`},
		{"emoji and quotes", []any{int64(5), nil, nil, nil, "😀 it's \"x\" \\ ünïcode", nil, nil}, `"5",NULL,NULL,NULL,"😀 it's \"x\" \\ ünïcode",NULL,NULL`},
		{"binary", []any{int64(6), nil, nil, nil, nil, []byte{0, '\'', '\\', 0xff}, nil}, `"6",NULL,NULL,NULL,NULL,"\x00'\\\xff",NULL`},
		{"time with microseconds", []any{int64(7), nil, nil, nil, nil, nil, time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)},
			`"7",NULL,NULL,NULL,NULL,NULL,"2024-02-29T23:59:59.123456Z"`},
		{"time in another zone stored as UTC", []any{int64(8), nil, nil, nil, nil, nil, time.Date(2024, 1, 1, 1, 0, 0, 1000, time.FixedZone("CET", 3600))},
			`"8",NULL,NULL,NULL,NULL,NULL,"2024-01-01T00:00:00.000001Z"`},
		{"all NULL", []any{int64(9), nil, nil, nil, nil, nil, nil}, `"9",NULL,NULL,NULL,NULL,NULL,NULL`},
	}
	var rows [][]any
	var want []string
	for _, tt := range tests {
		rows = append(rows, tt.row)
		want = append(want, tt.want)
	}
	s.apply(&connectors.Batch{
		Upserts:    []connectors.Upsert{{Table: "vals", Key: []string{"id"}, Columns: columns, Rows: rows}},
		Checkpoint: checkpoint("values", 100),
	})
	got := s.dump("vals")
	for i, tt := range tests {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("%s: got %s, want %s", tt.name, index(got, i), want[i])
		}
	}

	// Upserting again replaces; deleting removes.
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "vals", Key: []string{"id"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(404)}}}},
		Upserts:    []connectors.Upsert{{Table: "vals", Key: []string{"id"}, Columns: []string{"id", "s"}, Rows: [][]any{{int64(3), "new"}}}},
		Checkpoint: checkpoint("values", 200),
	})
	got = s.dump("vals")
	if len(got) != len(tests)-2 {
		t.Fatalf("after delete: %d rows, want %d: %q", len(got), len(tests)-2, got)
	}
	if want := `"3",NULL,"18446744073709551615",NULL,"new",NULL,NULL`; got[0] != want {
		t.Errorf("after upsert of some columns: %s, want %s (other columns kept)", got[0], want)
	}
}

func index(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<missing>"
}

func TestApplyDeltasAreExact(t *testing.T) {
	s := openStore(t, false)
	const n = 10_000
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(1), int64(1), dec("0.01")}
	}
	rows = append(rows, []any{int64(2), int64(3), dec("-99999999999999999999999999.99")})
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{
			Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: rows,
		}},
		Checkpoint: checkpoint("totals", 100),
	})
	want := []string{`"1","10000","100.00"`, `"2","3","-99999999999999999999999999.99"`}
	if got := s.dump("customer_totals"); !reflect.DeepEqual(got, want) {
		t.Fatalf("customer_totals = %q, want %q", got, want)
	}
	// A second batch adds to the existing rows.
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{
			Table: "customer_totals", Key: []string{"customer_id"}, Columns: []string{"order_count", "total_amount"},
			Rows: [][]any{{int64(1), int64(-1), dec("-0.01")}, {int64(2), int64(1), dec("0.02")}},
		}},
		Checkpoint: checkpoint("totals", 200),
	})
	want = []string{`"1","9999","99.99"`, `"2","4","-99999999999999999999999999.97"`}
	if got := s.dump("customer_totals"); !reflect.DeepEqual(got, want) {
		t.Fatalf("customer_totals = %q, want %q", got, want)
	}
}

func TestDeleteWhenZeroDeletesOnlyTouchedRows(t *testing.T) {
	s := openStore(t, false)
	s.exec("INSERT INTO customer_totals VALUES (1, 2, 20.00), (2, 1, 10.00), (3, 0, 0.00), (4, 1, 5.00)")
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
		Checkpoint: checkpoint("zero", 100),
	})
	// Customer 3 is at zero but untouched: it stays.
	want := []string{`"1","1","10.00"`, `"3","0","0.00"`, `"4","1","5.00"`}
	if got := s.dump("customer_totals"); !reflect.DeepEqual(got, want) {
		t.Fatalf("customer_totals = %q, want %q", got, want)
	}
}

func TestDeleteCompositeKey(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE daily (day DATE, shop VARCHAR(20), n BIGINT NOT NULL, PRIMARY KEY (day, shop))")
	day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
	s.apply(&connectors.Batch{
		Deltas: []connectors.Delta{{Table: "daily", Key: []string{"day", "shop"}, Columns: []string{"n"},
			Rows: [][]any{{day(1), "a", int64(1)}, {day(1), "b", int64(2)}, {day(2), "a", int64(3)}}}},
		Checkpoint: checkpoint("daily", 100),
	})
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "daily", Key: []string{"day", "shop"}, Keys: [][]any{{day(1), "b"}, {day(2), "a"}, {day(3), "a"}}}},
		Checkpoint: checkpoint("daily", 200),
	})
	want := []string{`"2025-01-01T00:00:00Z","a","1"`}
	if got := s.dump("daily"); !reflect.DeepEqual(got, want) {
		t.Fatalf("daily = %q, want %q", got, want)
	}
}

// TestFailedBatchLeavesNothing applies a batch that fails part-way and checks
// that none of it persisted, the checkpoint included.
func TestFailedBatchLeavesNothing(t *testing.T) {
	s := openStore(t, false)
	const flow = "atomic"
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seed := &connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"},
			Columns: []string{"id", "customer_id", "amount", "status", "created_at"},
			Rows:    [][]any{{int64(1), int64(7), dec("1.50"), "new", created}, {int64(2), int64(7), dec("2.50"), "new", created}}}},
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(7), int64(2), dec("4.00")}}}},
		Checkpoint: checkpoint(flow, 100),
	}
	s.apply(seed)

	okDelete := connectors.Delete{Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{int64(1)}}}
	okUpsert := connectors.Upsert{Table: "orders_copy", Key: []string{"id"},
		Columns: []string{"id", "customer_id", "amount", "status", "created_at"},
		Rows:    [][]any{{int64(3), int64(8), dec("9.99"), "new", created}}}
	okDelta := connectors.Delta{Table: "customer_totals", Key: []string{"customer_id"},
		Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(7), int64(-1), dec("-1.50")}, {int64(8), int64(1), dec("9.99")}}}
	tests := []struct {
		name     string
		batch    connectors.Batch
		wantText []string
	}{
		{
			name: "third statement: upsert into a missing table",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete},
				Upserts: []connectors.Upsert{okUpsert, {Table: "no_such_table", Key: []string{"id"}, Columns: []string{"id"}, Rows: [][]any{{int64(1)}}}},
				Deltas:  []connectors.Delta{okDelta},
			},
			wantText: []string{"no_such_table", "1146"},
		},
		{
			name: "delta into a missing column after other deltas",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete},
				Upserts: []connectors.Upsert{okUpsert},
				Deltas: []connectors.Delta{okDelta, {Table: "customer_totals", Key: []string{"customer_id"},
					Columns: []string{"no_such_column"}, Rows: [][]any{{int64(9), int64(1)}}}},
			},
			wantText: []string{"customer_totals", "no_such_column", "1054"},
		},
		{
			name: "value too long",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete},
				Upserts: []connectors.Upsert{okUpsert, {Table: "orders_copy", Key: []string{"id"},
					Columns: []string{"id", "customer_id", "amount", "status", "created_at"},
					Rows:    [][]any{{int64(4), int64(8), dec("1.00"), strings.Repeat("x", 21), created}}}},
				Deltas: []connectors.Delta{okDelta},
			},
			wantText: []string{"orders_copy", "1406"},
		},
		{
			name: "delete-when-zero on a missing column",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete},
				Upserts: []connectors.Upsert{okUpsert},
				Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
					Columns: []string{"order_count", "total_amount"}, Rows: okDelta.Rows, DeleteWhenZero: "no_such_count"}},
			},
			wantText: []string{"customer_totals", "no_such_count"},
		},
		{
			name: "NULL key",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete, {Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{nil}}}},
				Upserts: []connectors.Upsert{okUpsert},
			},
			wantText: []string{"orders_copy", "NULL"},
		},
		{
			name: "float delta",
			batch: connectors.Batch{
				Deletes: []connectors.Delete{okDelete},
				Deltas: []connectors.Delta{okDelta, {Table: "customer_totals", Key: []string{"customer_id"},
					Columns: []string{"total_amount"}, Rows: [][]any{{int64(7), 0.1}}}},
			},
			wantText: []string{"customer_totals", "float64"},
		},
	}
	before := map[string][]string{"orders_copy": s.dump("orders_copy"), "customer_totals": s.dump("customer_totals")}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.batch
			b.Checkpoint = checkpoint(flow, uint32(1000+i))
			err := s.Apply(context.Background(), &b)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			t.Log(err)
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "flow "+flow) {
				t.Errorf("error %q does not name the flow", err)
			}
			if s.Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
			for table, want := range before {
				if got := s.dump(table); !reflect.DeepEqual(got, want) {
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

// wideRows returns n orders_copy-like rows with a wide text column.
func wideRows(n, width int) [][]any {
	rows := make([][]any, n)
	pad := strings.Repeat("w", width)
	for i := range rows {
		rows[i] = []any{int64(i + 1), int64(i % 97), decimal.New(int64(i), -2), pad, time.Unix(int64(i), 0).UTC()}
	}
	return rows
}

func TestLargeBatchIsChunkedInOneTransaction(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE wide (id BIGINT PRIMARY KEY, k BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL," +
		" pad VARCHAR(1000) NOT NULL, at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	const n = 50_000
	upsert := connectors.Upsert{Table: "wide", Key: []string{"id"},
		Columns: []string{"id", "k", "amount", "pad", "at"}, Rows: wideRows(n, 600)} // ~30 MB of values

	// The same rows followed by a failing statement: nothing may persist,
	// although many statements ran before the failure.
	failing := &connectors.Batch{
		Upserts:    []connectors.Upsert{upsert},
		Deltas:     []connectors.Delta{{Table: "missing_totals", Key: []string{"k"}, Columns: []string{"n"}, Rows: [][]any{{int64(1), int64(1)}}}},
		Checkpoint: checkpoint("large", 100),
	}
	if err := s.Apply(context.Background(), failing); err == nil || !strings.Contains(err.Error(), "missing_totals") {
		t.Fatalf("Apply of failing batch: %v", err)
	}
	count := func() (rows int, sum string) {
		t.Helper()
		if err := s.DB().QueryRow("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM wide").Scan(&rows, &sum); err != nil {
			t.Fatal(err)
		}
		return rows, sum
	}
	if rows, _ := count(); rows != 0 {
		t.Fatalf("%d rows persisted from a failed batch", rows)
	}

	start := time.Now()
	s.apply(&connectors.Batch{Upserts: []connectors.Upsert{upsert}, Checkpoint: checkpoint("large", 100)})
	t.Logf("applied %d rows in %s", n, time.Since(start))
	rows, sum := count()
	// sum of i/100 for i < n
	if want := decimal.New(int64(n)*(n-1)/2, -2).StringFixed(2); rows != n || sum != want {
		t.Fatalf("wide has %d rows summing to %s, want %d rows summing to %s", rows, sum, n, want)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	s := openStore(t, false)
	ctx := context.Background()
	if _, ok, err := s.LoadCheckpoint(ctx, "nobody"); ok || err != nil {
		t.Fatalf("LoadCheckpoint of an unknown flow = %v, %v; want false, nil", ok, err)
	}
	tests := []connectors.Checkpoint{
		{Flow: "b-flow", Pos: schema.Position{File: "mysql-bin.000042", Pos: math.MaxUint32}, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77",
			ServerID: math.MaxUint32, ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562", CommitTime: time.Date(2025, 11, 25, 12, 30, 1, 999999000, time.UTC)},
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
	// Moving a checkpoint replaces it.
	moved := tests[1]
	moved.Pos.Pos = 1234
	moved.CommitTime = time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC)
	s.apply(&connectors.Batch{Checkpoint: moved})

	all, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []connectors.Checkpoint{tests[2], moved, tests[0]} // ordered by flow, binary collation
	if !reflect.DeepEqual(all, want) {
		t.Errorf("Checkpoints =\n%+v\nwant\n%+v", all, want)
	}
}

func TestApplyIsIdempotentPerCheckpoint(t *testing.T) {
	s := openStore(t, false)
	batch := &connectors.Batch{
		Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
			Columns: []string{"order_count", "total_amount"}, Rows: [][]any{{int64(1), int64(1), dec("5.00")}}}},
		Checkpoint: checkpoint("idem", 100),
	}
	// As if the first COMMIT succeeded but its reply was lost, and the
	// caller retried the same batch.
	s.apply(batch)
	s.apply(batch)
	want := []string{`"1","1","5.00"`}
	if got := s.dump("customer_totals"); !reflect.DeepEqual(got, want) {
		t.Fatalf("customer_totals = %q, want %q", got, want)
	}
	next := *batch
	next.Checkpoint = checkpoint("idem", 200)
	s.apply(&next)
	want = []string{`"1","2","10.00"`}
	if got := s.dump("customer_totals"); !reflect.DeepEqual(got, want) {
		t.Fatalf("customer_totals = %q, want %q", got, want)
	}
}

// TestConcurrentFlowsAddExactly runs flows in parallel, each adding to the
// same rows, retrying retryable errors (deadlocks, lock waits) as the engine
// does; every batch must count exactly once.
func TestConcurrentFlowsAddExactly(t *testing.T) {
	s := openStore(t, false)
	const (
		flows   = 4
		batches = 40
	)
	errs := make(chan error, flows)
	for f := range flows {
		go func() {
			flow := fmt.Sprintf("concurrent-%d", f)
			for i := range batches {
				b := &connectors.Batch{
					Deltas: []connectors.Delta{{Table: "customer_totals", Key: []string{"customer_id"},
						Columns: []string{"order_count", "total_amount"},
						Rows:    [][]any{{int64(i % 3), int64(1), dec("0.10")}, {int64(100 + f), int64(1), dec("1.00")}}}},
					Checkpoint: checkpoint(flow, uint32(i+1)),
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
	var count int64
	var total string
	if err := s.DB().QueryRow("SELECT SUM(order_count), SUM(total_amount) FROM customer_totals WHERE customer_id < 3").Scan(&count, &total); err != nil {
		t.Fatal(err)
	}
	if count != flows*batches || total != "16.00" {
		t.Fatalf("shared rows count %d total %s, want %d and 16.00", count, total, flows*batches)
	}
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

func TestNotMigrated(t *testing.T) {
	s := openStore(t, true)
	ctx := context.Background()
	_, _, loadErr := s.LoadCheckpoint(ctx, "f")
	_, listErr := s.Checkpoints(ctx)
	applyErr := s.Apply(ctx, &connectors.Batch{Checkpoint: checkpoint("f", 1)})
	for name, err := range map[string]error{"LoadCheckpoint": loadErr, "Checkpoints": listErr, "Apply": applyErr} {
		if err == nil {
			t.Errorf("%s succeeded on a database without binflow_checkpoints", name)
			continue
		}
		if !strings.Contains(err.Error(), "binflow migrate -c <config>") || !errors.Is(err, mysqlconn.ErrNotMigrated) {
			t.Errorf("%s error %q does not say to run binflow migrate", name, err)
		}
		if s.Retryable(err) {
			t.Errorf("%s error is retryable", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestMigrate(t *testing.T) {
	s := openStore(t, true)
	ctx := context.Background()
	applied, err := s.Migrate(ctx, migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	// Every file of the repository's migrations, in order.
	shipped, err := filepath.Glob(filepath.Join(migrationsDir, "mysql", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range shipped {
		shipped[i] = filepath.Base(shipped[i])
	}
	if !reflect.DeepEqual(applied, shipped) {
		t.Fatalf("first Migrate applied %q, want %q", applied, shipped)
	}
	for _, table := range []string{"binflow_checkpoints", "orders_copy", "customer_totals", "big_orders", "binflow_snapshots"} {
		var engine, collation string
		err := s.DB().QueryRow("SELECT engine, table_collation FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
			s.database, table).Scan(&engine, &collation)
		if err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
		if engine != "InnoDB" || !strings.HasPrefix(collation, "utf8mb4") {
			t.Errorf("table %s: engine %s collation %s, want InnoDB utf8mb4", table, engine, collation)
		}
	}
	applied, err = s.Migrate(ctx, migrationsDir)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate = %q, %v; want nothing applied", applied, err)
	}

	// A folder with one more file applies only that one.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "mysql"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_binflow_checkpoints.sql", "0002_sample_flows.sql"} {
		data, err := os.ReadFile(filepath.Join(migrationsDir, "mysql", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "mysql", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := "-- +goose Up\nCREATE TABLE extra (id INT PRIMARY KEY);\nINSERT INTO extra VALUES (1);\n-- +goose Down\nDROP TABLE extra;\n"
	if err := os.WriteFile(filepath.Join(dir, "mysql", "0098_extra.sql"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	applied, err = s.Migrate(ctx, dir)
	if err != nil || !reflect.DeepEqual(applied, []string{"0098_extra.sql"}) {
		t.Fatalf("Migrate with a new file = %q, %v", applied, err)
	}
	var names []string
	if err := s.DB().Select(&names, "SELECT name FROM binflow_migrations ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(shipped), "0098_extra.sql"); !reflect.DeepEqual(names, slices.Sorted(slices.Values(want))) {
		t.Errorf("binflow_migrations = %q, want %q", names, want)
	}

	// A broken file fails with its name and is not recorded.
	if err := os.WriteFile(filepath.Join(dir, "mysql", "0099_broken.sql"), []byte("-- +goose Up\nCREATE TABLEX nope;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx, dir); err == nil || !strings.Contains(err.Error(), "0099_broken.sql") {
		t.Fatalf("Migrate with a broken file: %v", err)
	}
	if _, err := s.Migrate(ctx, filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("Migrate of a missing folder succeeded")
	}
}

func TestHostileIdentifiersAreQuoted(t *testing.T) {
	s := openStore(t, false)
	const (
		table  = "we`ird; DROP TABLE x"
		id     = "i`d"
		value  = "v'; DELETE FROM x; --"
		count  = "n ü€ 中"
		victim = "x"
	)
	quote := func(name string) string {
		q, err := mysqlconn.QuoteIdent(name)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	s.exec("CREATE TABLE " + quote(victim) + " (id INT PRIMARY KEY)")
	s.exec("INSERT INTO " + quote(victim) + " VALUES (1)")
	s.exec("CREATE TABLE " + quote(table) + " (" + quote(id) + " BIGINT PRIMARY KEY, " + quote(value) + " VARCHAR(50) NULL, " +
		quote(count) + " BIGINT NOT NULL DEFAULT 0) DEFAULT CHARSET=utf8mb4")
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: table, Key: []string{id}, Columns: []string{id, value},
			Rows: [][]any{{int64(1), "`; DROP TABLE x; --"}, {int64(2), "b"}}}},
		Deltas: []connectors.Delta{{Table: table, Key: []string{id}, Columns: []string{count},
			Rows: [][]any{{int64(1), int64(5)}, {int64(2), int64(0)}}, DeleteWhenZero: count}},
		Checkpoint: checkpoint("hostile", 100),
	})
	s.apply(&connectors.Batch{
		Deletes:    []connectors.Delete{{Table: s.database + "." + table, Key: []string{id}, Keys: [][]any{{int64(3)}}}},
		Checkpoint: checkpoint("hostile", 200),
	})
	want := []string{"\"1\",\"`; DROP TABLE x; --\",\"5\""}
	if got := s.dump(table); !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %q, want %q", table, got, want)
	}
	if got := s.dump(victim); !reflect.DeepEqual(got, []string{`"1"`}) {
		t.Errorf("table x = %q: a hostile name reached the server unquoted", got)
	}
	err := s.Apply(context.Background(), &connectors.Batch{
		Upserts:    []connectors.Upsert{{Table: "t\x00", Key: []string{"a"}, Columns: []string{"a"}, Rows: [][]any{{1}}}},
		Checkpoint: checkpoint("hostile", 300),
	})
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Apply with a NUL in a table name: %v", err)
	}
}

func TestOpenWrongPassword(t *testing.T) {
	const password = "not-the-Password-42"
	o := downstreamOptions(t, "mysql")
	o.Password = password
	s, err := mysqlconn.Open(context.Background(), o)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("error contains the password: %s", msg)
	}
	for _, w := range []string{testenv.HostPort(testenv.DownstreamName), strconv.Quote(o.User), "1045"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

// TestOutageDownstreamStoppedMidBatch stops the downstream server while a
// batch is in flight (blocked on a row lock after its first statement ran),
// checks that the error is retryable and that nothing of the batch
// persisted, then restarts the server and applies the same batch.
func TestOutageDownstreamStoppedMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the shared downstream server")
	}
	s := openStore(t, false)
	ctx := context.Background()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	columns := []string{"id", "customer_id", "amount", "status", "created_at"}
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: columns,
			Rows: [][]any{{int64(1), int64(1), dec("1.00"), "new", created}, {int64(2), int64(1), dec("2.00"), "new", created}}}},
		Checkpoint: checkpoint("outage", 100),
	})

	// Hold a lock on row 2 so that the batch stops inside its transaction.
	holder, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT * FROM orders_copy WHERE id = 2 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	batch := &connectors.Batch{
		Deletes: []connectors.Delete{{Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{int64(1)}}}},
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: columns,
			Rows: [][]any{{int64(2), int64(1), dec("2.50"), "paid", created}}}},
		Checkpoint: checkpoint("outage", 200),
	}
	applied := make(chan error, 1)
	go func() { applied <- s.Apply(ctx, batch) }()
	waitForLockWait(t, s)

	stopped := time.Now()
	testenv.StopServer(t, testenv.DownstreamName) // restarts it at the end should the test fail
	var applyErr error
	select {
	case applyErr = <-applied:
	case <-time.After(20 * time.Second):
		t.Fatal("Apply did not return after the server stopped")
	}
	t.Logf("Apply returned %v after the server stopped (%s)", applyErr, time.Since(stopped))
	if applyErr == nil {
		t.Fatal("Apply succeeded while the server stopped")
	}
	if !s.Retryable(applyErr) {
		t.Errorf("Retryable(%v) = false", applyErr)
	}
	// While the server is down, a retry fails retryably too.
	if err := s.Apply(ctx, batch); err == nil || !s.Retryable(err) {
		t.Errorf("Apply with the server down: %v (retryable %v)", err, s.Retryable(err))
	}

	testenv.StartServer(t, testenv.DownstreamName)
	want := []string{`"1","1","1.00","new","2025-01-01T00:00:00Z"`, `"2","1","2.00","new","2025-01-01T00:00:00Z"`}
	if got := s.dump("orders_copy"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the outage orders_copy = %q, want the state before the batch %q", got, want)
	}
	if err := s.Apply(ctx, batch); err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	want = []string{`"2","1","2.50","paid","2025-01-01T00:00:00Z"`}
	if got := s.dump("orders_copy"); !reflect.DeepEqual(got, want) {
		t.Fatalf("orders_copy = %q, want %q", got, want)
	}
	if cp, _, err := s.LoadCheckpoint(ctx, "outage"); err != nil || cp.Pos != batch.Checkpoint.Pos {
		t.Fatalf("checkpoint = %v, %v; want %v", cp.Pos, err, batch.Checkpoint.Pos)
	}
}

// waitForLockWait waits until a transaction of this database waits for a
// row lock.
func waitForLockWait(t *testing.T, s *testStore) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := s.DB().QueryRow("SELECT COUNT(*) FROM information_schema.innodb_trx t"+
			" JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id"+
			" WHERE p.db = ? AND t.trx_state = 'LOCK WAIT'", s.database).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		// InnoDB refreshes innodb_trx only when it was not read for 100 ms.
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatal("the batch never waited for the row lock")
}

// BenchmarkApplyUpsert applies batches of 5000 orders_copy rows (the default
// batch size) and reports rows per second.
func BenchmarkApplyUpsert(b *testing.B) {
	admin := testenv.Downstream(b)
	name := testenv.FreshDatabase(b, admin, "connbench")
	s, err := mysqlconn.Open(context.Background(), downstreamOptions(b, name))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(context.Background(), migrationsDir); err != nil {
		b.Fatal(err)
	}
	const rowsPerBatch = 5000
	rows := make([][]any, rowsPerBatch)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = []any{int64(i), int64(i % 100), decimal.New(int64(i), -2), "paid", created}
	}
	batch := &connectors.Batch{Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"},
		Columns: []string{"id", "customer_id", "amount", "status", "created_at"}, Rows: rows}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch.Checkpoint = checkpoint("bench", uint32(i+1))
		if err := s.Apply(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rowsPerBatch)/b.Elapsed().Seconds(), "rows/s")
}
