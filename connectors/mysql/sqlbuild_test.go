package mysql

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors/internal/stmt"
)

func TestShapeSQL(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*stmtShape, error)
		rows  int
		want  string
	}{
		{
			name:  "upsert",
			build: func() (*stmtShape, error) { return upsertShape("t", []string{"a"}, []string{"a", "b", "c"}) },
			rows:  2,
			want:  "INSERT INTO `t` (`a`,`b`,`c`) VALUES (?,?,?),(?,?,?) ON DUPLICATE KEY UPDATE `b`=VALUES(`b`),`c`=VALUES(`c`)",
		},
		{
			name:  "upsert key not first",
			build: func() (*stmtShape, error) { return upsertShape("db.t", []string{"b"}, []string{"a", "b"}) },
			rows:  1,
			want:  "INSERT INTO `db`.`t` (`a`,`b`) VALUES (?,?) ON DUPLICATE KEY UPDATE `a`=VALUES(`a`)",
		},
		{
			name:  "upsert all key columns",
			build: func() (*stmtShape, error) { return upsertShape("t", []string{"a", "b"}, []string{"a", "b"}) },
			rows:  2,
			want:  "INSERT INTO `t` (`a`,`b`) VALUES (?,?),(?,?) ON DUPLICATE KEY UPDATE `a`=`a`",
		},
		{
			name: "upsert hostile names",
			build: func() (*stmtShape, error) {
				return upsertShape("we`ird; DROP TABLE x", []string{"i`d"}, []string{"i`d", "v; --"})
			},
			rows: 1,
			want: "INSERT INTO `we``ird; DROP TABLE x` (`i``d`,`v; --`) VALUES (?,?) ON DUPLICATE KEY UPDATE `v; --`=VALUES(`v; --`)",
		},
		{
			name:  "delete single key",
			build: func() (*stmtShape, error) { return deleteShape("t", []string{"id"}) },
			rows:  3,
			want:  "DELETE FROM `t` WHERE `id` IN (?,?,?)",
		},
		{
			name:  "delete composite key",
			build: func() (*stmtShape, error) { return deleteShape("t", []string{"a", "b"}) },
			rows:  2,
			want:  "DELETE FROM `t` WHERE (`a`,`b`) IN ((?,?),(?,?))",
		},
		{
			name:  "delta",
			build: func() (*stmtShape, error) { return deltaShape("t", []string{"k"}, []string{"n", "s"}) },
			rows:  2,
			want:  "INSERT INTO `t` (`k`,`n`,`s`) VALUES (?,?,?),(?,?,?) ON DUPLICATE KEY UPDATE `n`=`n`+VALUES(`n`),`s`=`s`+VALUES(`s`)",
		},
		{
			name:  "delete when zero single key",
			build: func() (*stmtShape, error) { return zeroDeleteShape("t", []string{"k"}, "n") },
			rows:  2,
			want:  "DELETE FROM `t` WHERE `n` = 0 AND `k` IN (?,?)",
		},
		{
			name:  "delete when zero composite key",
			build: func() (*stmtShape, error) { return zeroDeleteShape("t", []string{"k1", "k2"}, "n") },
			rows:  1,
			want:  "DELETE FROM `t` WHERE `n` = 0 AND (`k1`,`k2`) IN ((?,?))",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.sql(tt.rows); got != tt.want {
				t.Errorf("sql(%d) =\n%s\nwant\n%s", tt.rows, got, tt.want)
			}
			if got := strings.Count(s.sql(tt.rows), "?"); got != tt.rows*s.perRow {
				t.Errorf("%d placeholders, want %d", got, tt.rows*s.perRow)
			}
		})
	}
}

func TestShapeErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*stmtShape, error)
		want  string
	}{
		{"upsert no columns", func() (*stmtShape, error) { return upsertShape("t", []string{"a"}, nil) }, "no upsert columns"},
		{"upsert no key", func() (*stmtShape, error) { return upsertShape("t", nil, []string{"a"}) }, "no key columns"},
		{"upsert key not a column", func() (*stmtShape, error) { return upsertShape("t", []string{"x"}, []string{"a"}) }, `key column "x" is not among`},
		{"upsert duplicate column", func() (*stmtShape, error) { return upsertShape("t", []string{"a"}, []string{"a", "a"}) }, `"a" listed twice`},
		{"upsert empty column", func() (*stmtShape, error) { return upsertShape("t", []string{"a"}, []string{"a", ""}) }, "identifier is empty"},
		{"upsert empty table", func() (*stmtShape, error) { return upsertShape("", []string{"a"}, []string{"a"}) }, "identifier is empty"},
		{"delete NUL key", func() (*stmtShape, error) { return deleteShape("t", []string{"a\x00"}) }, "NUL"},
		{"delta key is delta column", func() (*stmtShape, error) { return deltaShape("t", []string{"a"}, []string{"a"}) }, "both a key and a delta column"},
		{"delta no columns", func() (*stmtShape, error) { return deltaShape("t", []string{"a"}, nil) }, "no delta columns"},
		{"zero delete empty column", func() (*stmtShape, error) { return zeroDeleteShape("t", []string{"a"}, "") }, "delete-when-zero column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMaxRowsRespectsPlaceholders(t *testing.T) {
	tests := []struct {
		columns int
		want    int
	}{
		{1, 1000},
		{65, 1000},
		{66, 992},
		{4096, 15},
	}
	for _, tt := range tests {
		cols := make([]string, tt.columns)
		for i := range cols {
			cols[i] = "c" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		}
		s, err := upsertShape("t", cols[:1], cols)
		if err != nil {
			t.Fatal(err)
		}
		if s.maxRows != tt.want {
			t.Errorf("%d columns: maxRows = %d, want %d", tt.columns, s.maxRows, tt.want)
		}
		if s.maxRows*s.perRow > maxPlaceholders {
			t.Errorf("%d columns: %d placeholders per statement", tt.columns, s.maxRows*s.perRow)
		}
	}
}

func TestChunkLen(t *testing.T) {
	shape, err := upsertShape("t", []string{"k"}, []string{"k", "v"})
	if err != nil {
		t.Fatal(err)
	}
	rowsOf := func(n, valueLen int) [][]any {
		rows := make([][]any, n)
		v := strings.Repeat("x", valueLen)
		for i := range rows {
			rows[i] = []any{int64(i), v}
		}
		return rows
	}
	tests := []struct {
		name   string
		rows   [][]any
		budget int
		want   int
	}{
		{"few rows", rowsOf(3, 10), 1 << 20, 3},
		{"capped at a full chunk", rowsOf(2500, 10), 1 << 20, 1000},
		{"byte budget", rowsOf(100, 1000), 10_000, 9},
		{"one huge row still goes", rowsOf(2, 100_000), 10_000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chunkLen(tt.rows, shape, tt.budget); got != tt.want {
				t.Errorf("chunkLen = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestArgBudget(t *testing.T) {
	tests := []struct {
		packet int64
		want   int
	}{
		{4 << 20, 1 << 20},
		{16 << 20, 4 << 20},
		{1 << 30, maxArgBytes},
		{1024, minArgBytes},
	}
	for _, tt := range tests {
		if got := argBudget(tt.packet); got != tt.want {
			t.Errorf("argBudget(%d) = %d, want %d", tt.packet, got, tt.want)
		}
	}
}

func TestShapeKeyIsUnambiguous(t *testing.T) {
	keys := map[string]string{}
	shapes := []struct {
		name       string
		kind       statementKind
		table      string
		key, cols  []string
		zeroColumn string
	}{
		{"a", kindUpsert, "t", []string{"a"}, []string{"a", "b"}, ""},
		{"b", kindUpsert, "t", []string{"a", "b"}, []string{"a"}, ""},
		{"c", kindUpsert, "t\x01\x01a", nil, []string{"a", "b"}, ""},
		{"d", kindDelta, "t", []string{"a"}, []string{"a", "b"}, ""},
		{"e", kindZeroDelete, "t", []string{"a"}, nil, "b"},
		{"f", kindZeroDelete, "t", []string{"a", "b"}, nil, ""},
		{"g", kindUpsert, "ta", nil, []string{"a", "b"}, ""},
	}
	for _, s := range shapes {
		k := string(stmt.AppendShapeKey(nil, s.kind, s.table, s.key, s.cols, s.zeroColumn))
		if other, ok := keys[k]; ok {
			t.Errorf("shapes %s and %s share a cache key", other, s.name)
		}
		keys[k] = s.name
	}
}

func TestShapeCacheHitDoesNotAllocate(t *testing.T) {
	var c shapeCache
	key := stmt.AppendShapeKey(nil, kindUpsert, "t", []string{"a"}, []string{"a", "b"}, "")
	build := func() (*stmtShape, error) { return upsertShape("t", []string{"a"}, []string{"a", "b"}) }
	first, err := c.Get(key, build)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		s, _ := c.Get(key, build)
		if s != first {
			t.Fatal("cache returned another shape")
		}
	})
	if allocs != 0 {
		t.Errorf("cache hit allocates %.1f times", allocs)
	}
}

func TestCheckRows(t *testing.T) {
	shape, err := upsertShape("t", []string{"k"}, []string{"v", "k"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rows    [][]any
		wantErr string
	}{
		{"ok", [][]any{{"x", int64(1)}, {nil, int64(2)}}, ""},
		{"short row", [][]any{{"x", int64(1)}, {int64(2)}}, "row 1 has 1 values, want 2"},
		{"NULL key", [][]any{{"x", nil}}, `key column "k"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRows(tt.rows, shape, []string{"k"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(tt.name, "NULL") && !errors.Is(err, stmt.ErrNullKey) {
				t.Errorf("error %v is not stmt.ErrNullKey", err)
			}
		})
	}
}

func TestCheckDeltaValues(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		wantErr bool
	}{
		{"int64", int64(-3), false},
		{"uint64", uint64(1 << 63), false},
		{"int", 7, false},
		{"decimal", decimal.RequireFromString("0.01"), false},
		{"float is inexact", 0.01, true},
		{"NULL", nil, true},
		{"string", "1", true},
		{"time", time.Now(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := stmt.CheckDeltaValues([][]any{{int64(1), tt.value}}, 1, []string{"n"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// benchmarkShape is the upsert shape of orders_copy.
func benchmarkShape(b *testing.B) *stmtShape {
	b.Helper()
	s, err := upsertShape("orders_copy", []string{"id"}, []string{"id", "customer_id", "amount", "status", "created_at"})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkBuildUpsert builds the SQL text of a 1000-row upsert chunk from
// scratch: one allocation, the statement itself.
func BenchmarkBuildUpsert(b *testing.B) {
	s := benchmarkShape(b)
	b.ReportAllocs()
	for b.Loop() {
		if q := s.build(1000); len(q) == 0 {
			b.Fatal("empty statement")
		}
	}
}

// BenchmarkBuildUpsertCached is the path Apply takes for a full chunk: the
// shape lookup and the cached statement, no allocation.
func BenchmarkBuildUpsertCached(b *testing.B) {
	var c shapeCache
	table, key, cols := "orders_copy", []string{"id"}, []string{"id", "customer_id", "amount", "status", "created_at"}
	build := func() (*stmtShape, error) { return upsertShape(table, key, cols) }
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = stmt.AppendShapeKey(buf[:0], kindUpsert, table, key, cols, "")
		s, err := c.Get(buf, build)
		if err != nil {
			b.Fatal(err)
		}
		if q := s.sql(1000); len(q) == 0 {
			b.Fatal("empty statement")
		}
	}
}
