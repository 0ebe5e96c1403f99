package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/schema/typestest"
	"github.com/binflow/binflow/testenv"
)

// A table with one column of every type, rows of edge values (minimum,
// maximum, NULL, empty, zero and partial dates, fractional seconds, emoji,
// latin1), copied by a flow through the real binary: the downstream copy
// reads, byte for byte, as the upstream table does, through inserts,
// updates (the primary key too) and deletes.
func TestEveryColumnTypeIsCopiedByteForByte(t *testing.T) {
	cols := typestest.Names()
	e := newEnv(t, envOptions{extraFlow: fmt.Sprintf(`
[[flows]]
name = "types_copy"
tables = ["SHOP.types"]
  [[flows.functions]]
  kind = "project"
  columns = ["%s"]
  [[flows.functions]]
  kind = "sink"
  table = "types_copy"
  key = ["id"]
`, strings.Join(cols, `", "`))})
	writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))
	src := "`" + e.shop + "`.types"
	e.exec(e.up, typestest.CreateTable(src))
	e.exec(e.down, typestest.CreateCopy("`"+e.derived+"`.types_copy"))
	p := e.start()
	e.waitCheckpoints(flowCount + 1)

	ctx := context.Background()
	conn, err := e.up.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	run := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%.300s: %v", q, err)
			}
		}
	}
	run(typestest.SessionSQL...)
	run(typestest.Insert(src))

	upRaw, downRaw := rawConn(t, testenv.UpstreamName), rawConn(t, testenv.DownstreamName)
	quoted := "`" + strings.Join(cols, "`, `") + "`"
	compare := func(stage string, wantRows int) {
		t.Helper()
		e.caughtUp(60 * time.Second)
		want := rawRows(t, upRaw, fmt.Sprintf("SELECT %s FROM %s ORDER BY id", quoted, src))
		got := rawRows(t, downRaw, fmt.Sprintf("SELECT %s FROM `%s`.types_copy ORDER BY id", quoted, e.derived))
		if len(want) != wantRows {
			t.Fatalf("%s: upstream has %d rows, want %d", stage, len(want), wantRows)
		}
		if len(got) != len(want) {
			t.Errorf("%s: copy has %d rows, upstream %d", stage, len(got), len(want))
		}
		for i := 0; i < len(got) && i < len(want); i++ {
			for j := range cols {
				if got[i][j] != want[i][j] {
					t.Errorf("%s: row id %s column %s: copy has %s, upstream %s", stage, want[i][0], cols[j], show(got[i][j]), show(want[i][j]))
				}
			}
		}
	}
	compare("inserts", len(typestest.Rows))

	inserted := "`" + strings.Join(typestest.Inserted(), "`, `") + "`"
	run(
		// The primary key moves: the copy must drop the old id.
		"UPDATE "+src+" SET id = 20 WHERE id = 2",
		"UPDATE "+src+" SET c_varchar = 'ünïcode 🎉 again', c_decimal = c_decimal / 3, c_datetime6 = '2001-02-03 04:05:06.000007', c_bit64 = b'0', c_json = JSON_ARRAY(1, 'two') WHERE id = 1",
		"UPDATE "+src+" SET c_date = '2024-02-29', c_timestamp = '2024-02-29 00:00:00' WHERE id = 4",
		"UPDATE "+src+" SET c_int = 42 WHERE id = 3", // NULL to a value: the virtual column follows
		"DELETE FROM "+src+" WHERE id = 5",
		fmt.Sprintf("INSERT INTO %s (%s) SELECT 7, %s FROM %s WHERE id = 20", src, inserted, strings.TrimPrefix(inserted, "`id`, "), src),
	)
	compare("updates and deletes", len(typestest.Rows))
	e.stop(p)
}

// rawConn reads a server as the text protocol gives it, without parseTime:
// the values as the server prints them, in UTC.
func rawConn(t *testing.T, server string) *sql.DB {
	t.Helper()
	dsn := strings.Replace(testenv.DSN(server, ""), "parseTime=true", "parseTime=false", 1) + "&time_zone=%27%2B00%3A00%27"
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawRows returns each cell's bytes as a string, "\x00NULL" for NULL.
func rawRows(t *testing.T, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		dest := make([]any, len(cols))
		for i := range raw {
			dest[i] = &raw[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, b := range raw {
			row[i] = string(b)
			if b == nil {
				row[i] = "\x00NULL"
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func show(s string) string {
	if s == "\x00NULL" {
		return "NULL"
	}
	if len(s) > 80 {
		return fmt.Sprintf("%q... (%d bytes)", s[:80], len(s))
	}
	return fmt.Sprintf("%q", s)
}
