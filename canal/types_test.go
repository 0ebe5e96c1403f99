package canal

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/schema/typestest"
	"github.com/binflow/binflow/testenv"
)

// TestStreamDecodesEveryTypeAsSelectDoes reads the fixture table of every
// column type through the binlog and compares each decoded value with what
// SELECT returns for the same row through go-sql-driver/mysql (parseTime,
// loc=UTC): the same value, in binflow's documented Go type.
func TestStreamDecodesEveryTypeAsSelectDoes(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "types")
	table := "`" + db + "`.t"
	mustExec(t, up, typestest.CreateTable(table))
	c := &collector{db: db}
	startStream(t, c)

	ctx := context.Background()
	conn, err := up.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmts := append(append([]string{}, typestest.SessionSQL...), typestest.Insert(table),
		// Only here, not in the copy test: values a strict downstream
		// refuses (the ENUM error value '') and latin1's C1 bytes; and two
		// zero runs of one length in an INET6 (the first is shortened).
		"INSERT INTO "+table+" (id, c_enum, c_latin1_varchar, c_latin1_char, c_inet6, c_uuid) VALUES (7, 'no such value', x'81809D', x'E9', '2001:db8:0:0:1:0:0:1', 'ffffffff-0000-0000-0000-000000000001')")
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.200s: %v", q, err)
		}
	}
	want := len(typestest.Rows) + 1
	waitRows(t, c, want)

	decoded := map[int64][]any{}
	var tbl *schema.Table
	for _, txn := range c.txns {
		for _, r := range txn.Rows {
			decoded[r.After[0].(int64)] = r.After
			tbl = r.Table
		}
	}
	if len(decoded) != want {
		t.Fatalf("decoded %d rows, want %d", len(decoded), want)
	}
	if got := strings.Join(tbl.ColumnNames(), ","); got != strings.Join(typestest.Names(), ",") {
		t.Fatalf("columns %s", got)
	}

	cols := "`" + strings.Join(typestest.Names(), "`, `") + "`"
	typed := selectRows(t, up, fmt.Sprintf("SELECT %s FROM %s WHERE id <> %d ORDER BY id", cols, table, typestest.PartialDateRow))
	raw := selectRows(t, rawDB(t), fmt.Sprintf("SELECT %s FROM %s WHERE id = %d", cols, table, typestest.PartialDateRow))
	cells := 0
	for _, rows := range [][][]any{typed, raw} {
		for _, sel := range rows {
			cells += len(sel)
			id := sel[0].(int64)
			got := decoded[id]
			for i, col := range tbl.Columns {
				if err := sameAsSelect(&col, got[i], sel[i]); err != nil {
					t.Errorf("row %d column %s: %v", id, col.Name, err)
				}
			}
		}
	}
	if want := want * len(typestest.Columns); cells != want {
		t.Errorf("compared %d values, want %d", cells, want)
	}
}

// rawDB reads the upstream without parseTime: the partial dates as text.
func rawDB(t *testing.T) *sql.DB {
	db, err := sql.Open("mysql", strings.Replace(testenv.DSN(testenv.UpstreamName, ""), "parseTime=true", "parseTime=false", 1)+"&time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func selectRows(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if b, ok := vals[0].([]byte); ok { // id, in the raw connection
			var id int64
			fmt.Sscan(string(b), &id)
			vals[0] = id
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameAsSelect compares a decoded value with the driver's value of the
// same cell, requiring binflow's documented Go type for the column.
func sameAsSelect(col *schema.Column, got, sel any) error {
	mismatch := func() error { return fmt.Errorf("decoded %T %#v, SELECT gives %T %#v", got, got, sel, sel) }
	switch s := sel.(type) {
	case nil:
		if got != nil {
			return mismatch()
		}
	case int64: // integers and YEAR
		if col.Unsigned && col.Type != mysql.MYSQL_TYPE_YEAR {
			if g, ok := got.(uint64); !ok || s < 0 || g != uint64(s) {
				return mismatch()
			}
		} else if g, ok := got.(int64); !ok || g != s {
			return mismatch()
		}
	case uint64, float32, float64:
		if got != sel {
			return mismatch()
		}
	case time.Time:
		if g, ok := got.(time.Time); !ok || g != s || g.Location() != time.UTC {
			return mismatch()
		}
	case []byte:
		switch g := got.(type) {
		case string: // text, TIME, ENUM, SET, JSON, partial dates
			if g != string(s) {
				return mismatch()
			}
		case []byte:
			if !bytes.Equal(g, s) {
				return mismatch()
			}
		case decimal.Decimal:
			if d, err := decimal.NewFromString(string(s)); err != nil || !d.Equal(g) {
				return mismatch()
			}
		case uint64: // BIT: SELECT gives its bytes, big-endian
			if len(s) > 8 || g != binary.BigEndian.Uint64(append(make([]byte, 8-len(s)), s...)) {
				return mismatch()
			}
		default:
			return mismatch()
		}
	default:
		return fmt.Errorf("SELECT gave an unexpected %T", sel)
	}
	return nil
}
