package snapshot_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/snapshot"
	"github.com/binflow/binflow/testenv"
)

func TestKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		key  []any
	}{
		{"none", nil},
		{"int64", []any{int64(-42)}},
		{"uint64 max", []any{uint64(18446744073709551615)}},
		{"composite", []any{"caf\u00e9 'x'", int64(7), []byte{0, 1, 255}}},
		{"decimal", []any{decimal.RequireFromString("-12.340")}},
		{"time", []any{time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)}},
		{"zero date", []any{time.Time{}}},
		{"floats", []any{float64(1.5), float32(2.25)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := snapshot.EncodeKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := snapshot.DecodeKey(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.key) {
				t.Fatalf("DecodeKey(%s) = %v, want %v", s, got, tt.key)
			}
			for i := range got {
				if !sameValue(got[i], tt.key[i]) {
					t.Errorf("value %d: %#v, want %#v (encoded %s)", i, got[i], tt.key[i], s)
				}
			}
		})
	}
	if _, err := snapshot.EncodeKey([]any{struct{}{}}); err == nil {
		t.Error("EncodeKey of a struct succeeded")
	}
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return reflect.DeepEqual(a, b)
}

func upstreamReader(t *testing.T) *snapshot.Reader {
	t.Helper()
	host, port := testenv.UpstreamAddr()
	r, err := snapshot.Open(context.Background(), snapshot.Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password,
		Stream: canal.Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password,
			ServerID: uint32(3000 + rand.Intn(1000)), Log: zerolog.Nop()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func masterPos(t *testing.T, db *sql.DB) schema.Position {
	t.Helper()
	var p schema.Position
	var a, b []byte
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&p.File, &p.Pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	return p
}

// A row read by a snapshot must be the very value the binlog reader
// produces for the same row: functions see both.
func TestRowsMatchTheBinlog(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "snap")
	mustExec(t, up, "CREATE TABLE `"+db+"`.t (id INT UNSIGNED PRIMARY KEY, "+
		"i TINYINT, u BIGINT UNSIGNED, d DECIMAL(12,3), f FLOAT, g DOUBLE, b BIT(10), y YEAR, "+
		"dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(3) NULL, da DATE, tm TIME(2), "+
		"e ENUM('a','b c'), s SET('x','y','z'), c CHAR(5), vc VARCHAR(20), l1 VARCHAR(20) CHARACTER SET latin1, "+
		"bn BINARY(4), vb VARBINARY(10), tx TEXT, bl BLOB, j JSON) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	mustExec(t, up, "SET SESSION sql_mode = ''")
	from := masterPos(t, up)
	mustExec(t, up, "INSERT INTO `"+db+"`.t VALUES "+
		"(1, -128, 18446744073709551615, -12.5, 1.5, 2.25, b'1000000001', 2024, '2024-02-29 23:59:59.123456', '1999-12-31 00:00:00', '2024-01-01 10:00:00.5', '2024-03-01', '-12:30:00.25', "+
		"'b c', 'x,z', 'ab', 'caf\u00e9', 'caf\u00e9', 'ab', x'00ff', 'text \U0001F389', x'0102', '{\"k\": [1, 2]}'),"+
		"(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00 00:00:00', '1969-07-20 20:17:40', NULL, '0000-00-00', '00:00:00', "+
		"NULL, '', '', '', '', '', '', '', '', NULL)")
	to := masterPos(t, up)

	r := upstreamReader(t)
	ctx := context.Background()
	var binlog [][]any
	if err := r.StreamUntil(ctx, from, to, func(_ context.Context, txn *schema.Txn) error {
		for _, row := range txn.Rows {
			if row.Table.Schema == db {
				binlog = append(binlog, row.After)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	table, err := r.Table(ctx, db+".t")
	if err != nil {
		t.Fatal(err)
	}
	view, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	rows, err := view.Chunk(ctx, table, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(binlog) != 2 {
		t.Fatalf("%d rows read, %d in the binlog; want 2 and 2", len(rows), len(binlog))
	}
	for i := range rows {
		for j, c := range table.Schema.Columns {
			if !sameValue(rows[i][j], binlog[i][j]) {
				t.Errorf("row %d column %s: snapshot %#v, binlog %#v", i+1, c.Name, rows[i][j], binlog[i][j])
			}
		}
	}
}

// Keyset chunks read every row once, in the server's order, whatever the
// collation; KeyComparer agrees with that order.
func TestChunksAndKeyOrder(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "snap")
	mustExec(t, up, "CREATE TABLE `"+db+"`.t (name VARCHAR(20) COLLATE utf8mb4_general_ci, n INT, d DECIMAL(6,2), v INT, PRIMARY KEY (name, n, d))")
	names := []string{"a", "B", "b ", "c", "\u00e9", "E", "z", "Zz"}
	want := 0
	for _, name := range names {
		for n := -2; n <= 2; n++ {
			mustExec(t, up, "INSERT INTO `"+db+"`.t VALUES (?, ?, ?, 1) ON DUPLICATE KEY UPDATE v = v", name, n, fmt.Sprintf("%d.5", n))
			want++
		}
	}
	if err := up.QueryRow("SELECT COUNT(*) FROM `" + db + "`.t").Scan(&want); err != nil {
		t.Fatal(err)
	}
	r := upstreamReader(t)
	ctx := context.Background()
	table, err := r.Table(ctx, db+".t")
	if err != nil {
		t.Fatal(err)
	}
	cmp := r.Comparer(table)
	for _, size := range []int{1, 3, 7, 1000} {
		t.Run(fmt.Sprintf("chunks of %d", size), func(t *testing.T) {
			var all [][]any
			var after []any
			for {
				rows, err := r.Chunk(ctx, table, after, size)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, rows...)
				if len(rows) < size {
					break
				}
				after = table.KeyOf(rows[len(rows)-1])
			}
			if len(all) != want {
				t.Fatalf("read %d rows, the table has %d", len(all), want)
			}
			for i := 1; i < len(all); i++ {
				n, err := cmp.Compare(ctx, table.KeyOf(all[i-1]), table.KeyOf(all[i]))
				if err != nil {
					t.Fatal(err)
				}
				if n >= 0 {
					t.Errorf("rows %d and %d: keys %v and %v compare %d, want -1", i-1, i, table.KeyOf(all[i-1]), table.KeyOf(all[i]), n)
				}
			}
		})
	}
}

func TestTableWithoutPrimaryKey(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "snap")
	mustExec(t, up, "CREATE TABLE `"+db+"`.nopk (a INT, b INT, UNIQUE KEY (a))")
	_, err := upstreamReader(t).Table(context.Background(), db+".nopk")
	if !errors.Is(err, snapshot.ErrNoPrimaryKey) {
		t.Fatalf("Table of a table without a primary key: %v, want ErrNoPrimaryKey", err)
	}
	t.Log(err)
}

// The view's position is exact: what is committed before it is in the
// view, what is committed after it is in the binlog after it.
func TestViewPosition(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "snap")
	mustExec(t, up, "CREATE TABLE `"+db+"`.t (id INT PRIMARY KEY)")
	mustExec(t, up, "INSERT INTO `"+db+"`.t VALUES (1)")
	r := upstreamReader(t)
	ctx := context.Background()
	view, err := r.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	mustExec(t, up, "INSERT INTO `"+db+"`.t VALUES (2)")
	to := masterPos(t, up)
	table, err := r.Table(ctx, db+".t")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := view.Chunk(ctx, table, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0][0] != int64(1) {
		t.Fatalf("view rows = %v, want only id 1", rows)
	}
	var after []int64
	if err := r.StreamUntil(ctx, view.Pos, to, func(_ context.Context, txn *schema.Txn) error {
		for _, row := range txn.Rows {
			if row.Table.Schema == db {
				after = append(after, row.After[0].(int64))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, []int64{2}) {
		t.Errorf("binlog after the view's position %s holds ids %v, want [2]", view.Pos, after)
	}
	if view.GTID == "" {
		t.Errorf("view at %s has no GTID set", view.Pos)
	}
}
