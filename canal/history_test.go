package canal

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/schema/binlogtest"
	"github.com/binflow/binflow/testenv"
)

// minimalMetadata switches the upstream to binlog_row_metadata=MINIMAL for
// one test, restoring FULL after (other tests share the server).
func minimalMetadata(t *testing.T, up *sql.DB) {
	t.Helper()
	mustExec(t, up, "SET GLOBAL binlog_row_metadata = MINIMAL")
	t.Cleanup(func() {
		if _, err := up.Exec("SET GLOBAL binlog_row_metadata = FULL"); err != nil {
			t.Errorf("restore binlog_row_metadata: %v", err)
		}
	})
}

// streamRows reads the binlog from `from` until it has `want` row changes
// of database db, or the stream stops with an error.
func streamRows(t *testing.T, from schema.Position, db string, want int) ([]schema.Row, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src, err := NewSource(ctx, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var rows []schema.Row
	done := fmt.Errorf("done")
	err = src.Stream(ctx, from, func(_ context.Context, txn *schema.Txn) error {
		for _, r := range txn.Rows {
			if r.Table.Schema == db {
				rows = append(rows, r)
			}
		}
		if len(rows) >= want {
			return done
		}
		return nil
	})
	if err == done {
		return rows, nil
	}
	if err == nil {
		t.Fatalf("stream ended after %d of %d rows", len(rows), want)
	}
	return rows, err
}

// named renders an image as "col=value ..." with the schema it was read with.
func named(tbl *schema.Table, image []any) string {
	parts := make([]string, len(image))
	for i, v := range image {
		parts[i] = fmt.Sprintf("%s=%v", tbl.Columns[i].Name, v)
	}
	return strings.Join(parts, " ")
}

// Without binlog_row_metadata=FULL, rows written before and after an ALTER
// TABLE that adds a column in the middle, drops one and renames one, read
// from a position before the table was created, each decode with the
// columns of their time: the history follows CREATE and ALTER.
func TestMinimalMetadataFollowsDDL(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "hist")
	minimalMetadata(t, up)
	src, err := NewSource(context.Background(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	from, err := src.CurrentPosition(context.Background())
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	tbl := "`" + db + "`.t"
	for _, q := range []string{
		"CREATE TABLE " + tbl + " (id INT PRIMARY KEY, a VARCHAR(20), b INT UNSIGNED, c VARCHAR(20), e ENUM('x','y','café')) DEFAULT CHARSET=utf8mb4",
		"INSERT INTO " + tbl + " VALUES (1, 'one', 10, 'c1', 'café')",
		"ALTER TABLE " + tbl + " ADD COLUMN m INT NOT NULL DEFAULT 7 AFTER a, DROP COLUMN c, RENAME COLUMN b TO bb",
		"INSERT INTO " + tbl + " (id, a, m, bb, e) VALUES (2, 'two', 22, 20, 'y')",
		"UPDATE " + tbl + " SET a = 'ONE' WHERE id = 1",
		"ALTER TABLE " + tbl + " MODIFY e ENUM('x','y','café','z') FIRST, CHANGE a alpha VARCHAR(30) AFTER bb",
		"INSERT INTO " + tbl + " (id, alpha, m, bb, e) VALUES (3, 'three', 33, 30, 'z')",
		"RENAME TABLE " + tbl + " TO `" + db + "`.t2",
		"INSERT INTO `" + db + "`.t2 (id, alpha, m, bb, e) VALUES (4, 'four', 44, 40, 'x')",
	} {
		mustExec(t, up, q)
	}
	rows, err := streamRows(t, from, db, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"t insert id=1 a=one b=10 c=c1 e=café",
		"t insert id=2 a=two m=22 bb=20 e=y",
		"t update id=1 a=ONE m=7 bb=10 e=café",
		"t insert e=z id=3 m=33 bb=30 alpha=three",
		"t2 insert e=x id=4 m=44 bb=40 alpha=four",
	}
	for i, r := range rows {
		got := fmt.Sprintf("%s %s %s", r.Table.Name, r.Op, named(r.Table, r.Image()))
		if i >= len(want) || got != want[i] {
			t.Errorf("row %d: %s, want %s", i, got, want[min(i, len(want)-1)])
		}
	}
	// The last image of every row is what SELECT gives now.
	// (selectRows wants the id first.)
	sel := selectRows(t, up, "SELECT id, e, id, m, bb, alpha FROM `"+db+"`.t2 WHERE id IN (3, 4) ORDER BY id")
	for i, r := range rows[3:] {
		for j, v := range r.After {
			cell := sel[i][j+1]
			if s, ok := cell.([]byte); ok && fmt.Sprint(v) != string(s) || !ok && fmt.Sprint(v) != fmt.Sprint(cell) {
				t.Errorf("row id %v column %s: decoded %v, SELECT gives %v", r.After[1], r.Table.Columns[j].Name, v, cell)
			}
		}
	}
}

// A table created before the start position: its definition comes from
// information_schema, which is exact when no statement changes the table
// between the start and the moment binflow reads it; when one does,
// binflow stops, naming the statement, rather than guess.
func TestMinimalMetadataReadsInformationSchemaOnlyWhenExact(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "hist")
	tbl := "`" + db + "`.t"
	mustExec(t, up, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, s SET('p','q'), v VARCHAR(10))")
	minimalMetadata(t, up)
	src, err := NewSource(context.Background(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	from, err := src.CurrentPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (1, 'p,q', 'one')")
	rows, err := streamRows(t, from, db, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := named(rows[0].Table, rows[0].After), "id=1 s=p,q v=one"; got != want {
		t.Errorf("decoded %s, want %s", got, want)
	}

	alter := "ALTER TABLE " + tbl + " RENAME COLUMN v TO w"
	mustExec(t, up, alter)
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (2, 'q', 'two')")
	_, err = streamRows(t, from, db, 2)
	if err == nil {
		t.Fatal("rows before an ALTER that binflow did not see were decoded with the definition after it")
	}
	for _, w := range []string{db + ".t", "binlog_row_metadata", "RENAME COLUMN v TO w", "binflow rebuild"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	// From after the ALTER, the definition read is exact again.
	after, err := src.CurrentPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (3, '', 'three')")
	rows, err = streamRows(t, after, db, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := named(rows[0].Table, rows[0].After), "id=3 s= w=three"; got != want {
		t.Errorf("decoded %s, want %s", got, want)
	}
}

// fakeUpstream serves definitions and statements from memory.
type fakeUpstream struct {
	defs  map[string]*schema.TableDef
	end   schema.Position
	stmts []loggedStatement
	reads int
}

func (f *fakeUpstream) Definition(_ context.Context, table string) (*schema.TableDef, schema.Position, error) {
	f.reads++
	return f.defs[table], f.end, nil
}

func (f *fakeUpstream) Statements(_ context.Context, from, to schema.Position) ([]loggedStatement, error) {
	var out []loggedStatement
	for _, s := range f.stmts {
		if s.End.Compare(from) > 0 && s.End.Compare(to) <= 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

func at(pos uint32) schema.Position { return schema.Position{File: "mysql-bin.000001", Pos: pos} }

// columns renders a definition as "name type [values]" per column, and the
// primary key.
func columns(def *schema.TableDef) string {
	if def == nil {
		return "unknown"
	}
	var parts []string
	for _, c := range def.Columns {
		p := fmt.Sprintf("%s:%d", c.Name, c.Type)
		if c.Unsigned {
			p += "u"
		}
		if c.Values != nil {
			p += "(" + strings.Join(c.Values, ",") + ")"
		}
		if c.Format != schema.FormatNone {
			p += "/" + c.Format.String()
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ") + " pk " + strings.Join(def.PrimaryKey, ",")
}

// The history applies each DDL statement to the definitions it knows,
// forgetting (to read again when needed) what it cannot apply exactly.
func TestSchemaHistoryAppliesDDL(t *testing.T) {
	base := "CREATE TABLE t (id INT UNSIGNED NOT NULL, a VARCHAR(10), b INT, PRIMARY KEY (id))"
	tests := []struct {
		name  string
		stmts []string
		table string
		want  string
	}{
		{"create", []string{base}, "d.t", "id:3u a:15 b:3 pk id"},
		{"create with column key and enum", []string{"CREATE TABLE d.t (k BIGINT PRIMARY KEY, e ENUM('a','b''c'), s SET('x'), bin BINARY(16), j JSON)"}, "d.t",
			"k:8 e:247(a,b'c) s:248(x) bin:254 j:245 pk k"},
		{"add first, middle, last", []string{base, "ALTER TABLE t ADD COLUMN f TINYINT FIRST, ADD COLUMN m DATE AFTER a, ADD l TEXT"}, "d.t",
			"f:1 id:3u a:15 m:10 b:3 l:252 pk id"},
		{"add several", []string{base, "ALTER TABLE t ADD COLUMN (x INT, y INT)"}, "d.t", "id:3u a:15 b:3 x:3 y:3 pk id"},
		{"add if not exists", []string{base, "ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT, ADD COLUMN IF NOT EXISTS z INT"}, "d.t", "id:3u a:15 b:3 z:3 pk id"},
		{"drop", []string{base, "ALTER TABLE t DROP COLUMN a, DROP b"}, "d.t", "id:3u pk id"},
		{"drop if exists", []string{base, "ALTER TABLE t DROP COLUMN IF EXISTS nope"}, "d.t", "id:3u a:15 b:3 pk id"},
		{"drop key column", []string{base, "ALTER TABLE t DROP COLUMN id"}, "d.t", "a:15 b:3 pk "},
		{"modify", []string{base, "ALTER TABLE t MODIFY b BIGINT UNSIGNED"}, "d.t", "id:3u a:15 b:8u pk id"},
		{"modify first", []string{base, "ALTER TABLE t MODIFY b BIGINT FIRST"}, "d.t", "b:8 id:3u a:15 pk id"},
		{"change after", []string{base, "ALTER TABLE t CHANGE COLUMN id ident INT UNSIGNED AFTER b"}, "d.t", "a:15 b:3 ident:3u pk ident"},
		{"rename column", []string{base, "ALTER TABLE t RENAME COLUMN A TO aa"}, "d.t", "id:3u aa:15 b:3 pk id"},
		{"indexes and options", []string{base, "ALTER TABLE t ADD INDEX (a), ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE, ALTER COLUMN b SET DEFAULT 3"}, "d.t",
			"id:3u a:15 b:3 pk id"},
		{"primary key", []string{base, "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)"}, "d.t", "id:3u a:15 b:3 pk a,b"},
		{"online alter with wait", []string{base, "ALTER ONLINE TABLE t WAIT 5 ADD COLUMN w INT"}, "d.t", "id:3u a:15 b:3 w:3 pk id"},
		{"rename table", []string{base, "RENAME TABLE t TO d2.u"}, "d2.u", "id:3u a:15 b:3 pk id"},
		{"renamed away", []string{base, "RENAME TABLE t TO u"}, "d.t", "unknown"},
		{"alter rename", []string{base, "ALTER TABLE t ADD COLUMN x INT, RENAME TO v"}, "d.v", "id:3u a:15 b:3 x:3 pk id"},
		{"swap", []string{base, "CREATE TABLE t_new (id INT)", "RENAME TABLE t TO t_old, t_new TO t"}, "d.t", "id:3 pk "},
		{"swapped out", []string{base, "CREATE TABLE t_new (id INT)", "RENAME TABLE t TO t_old, t_new TO t"}, "d.t_old", "id:3u a:15 b:3 pk id"},
		{"drop table", []string{base, "DROP TABLE IF EXISTS t"}, "d.t", "unknown"},
		{"drop database", []string{base, "DROP DATABASE d"}, "d.t", "unknown"},
		{"truncate keeps columns", []string{base, "TRUNCATE TABLE t"}, "d.t", "id:3u a:15 b:3 pk id"},
		{"create like", []string{base, "CREATE TABLE c LIKE t"}, "d.c", "id:3u a:15 b:3 pk id"},
		{"create or replace", []string{base, "CREATE OR REPLACE TABLE t (z INT)"}, "d.t", "z:3 pk "},
		{"create if not exists", []string{base, "CREATE TABLE IF NOT EXISTS t (z INT)"}, "d.t", "unknown"},
		{"create select", []string{"CREATE TABLE t AS SELECT 1 AS x"}, "d.t", "unknown"},
		{"temporary table", []string{base, "CREATE TEMPORARY TABLE t (z INT)"}, "d.t", "id:3u a:15 b:3 pk id"},
		{"unparsable mention", []string{base, "ALTER TABLE t ADD COLUMN ip INET6"}, "d.t", "unknown"},
		{"unmodelled clause", []string{base, "ALTER TABLE t ADD COLUMN x INT, ADD CONSTRAINT PRIMARY KEY (x), ADD PERIOD FOR p(a, b)"}, "d.t", "unknown"},
		{"statement on another table", []string{base, "ALTER TABLE other DROP COLUMN a", "INSERT INTO t VALUES (1, 'x', 2)"}, "d.t", "id:3u a:15 b:3 pk id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchemaHistory(nil)
			for i, q := range tt.stmts {
				if err := h.statement(context.Background(), at(uint32(100+i)), "d", q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if got := columns(h.known[tt.table]); got != tt.want {
				t.Errorf("%s: %s, want %s", tt.table, got, tt.want)
			}
		})
	}
}

// A definition read from information_schema is used at a position only
// when no statement between there and the read touches the table.
func TestSchemaHistoryChecksTheWindowBeforeUsingInformationSchema(t *testing.T) {
	def := &schema.TableDef{Columns: []schema.ColumnDef{{Name: "id", Type: 3}, {Name: "w", Type: 3}}}
	up := &fakeUpstream{defs: map[string]*schema.TableDef{"d.t": def, "d.u": def}, end: at(1000), stmts: []loggedStatement{
		{End: at(300), DefaultSchema: "d", Query: "ALTER TABLE t RENAME COLUMN v TO w"},
		{End: at(400), DefaultSchema: "d", Query: "TRUNCATE TABLE u"},
		{End: at(500), DefaultSchema: "x", Query: "ALTER TABLE t ADD COLUMN q INT"}, // another database's t
	}}
	h := newSchemaHistory(up)
	if _, err := h.definition(context.Background(), "d.t", at(200)); err == nil || !strings.Contains(err.Error(), "RENAME COLUMN v TO w") {
		t.Errorf("before the ALTER: %v, want an error naming it", err)
	}
	if _, err := h.definition(context.Background(), "d.u", at(200)); err != nil {
		t.Errorf("a TRUNCATE changes no columns: %v", err)
	}
	got, err := h.definition(context.Background(), "d.t", at(300))
	if err != nil || !reflect.DeepEqual(got, def) {
		t.Errorf("after the ALTER: %v, %v", columns(got), err)
	}
	if reads := up.reads; reads != 3 {
		t.Errorf("%d reads of information_schema, want 3", reads)
	}
	if _, err := h.definition(context.Background(), "d.t", at(600)); err != nil || up.reads != 3 {
		t.Errorf("a known table was read again (%d reads): %v", up.reads, err)
	}
}

func TestInformationSchemaColumns(t *testing.T) {
	tests := []struct {
		dataType, columnType string
		want                 string
	}{
		{"int", "int(10) unsigned", "c:3u"},
		{"enum", "enum('a','b''c','d,e')", "c:247(a,b'c,d,e)"},
		{"set", "set('x','y')", "c:248(x,y)"},
		{"inet6", "inet6", "c:254/INET6"},
		{"uuid", "uuid", "c:254/UUID"},
		{"longtext", "longtext", "c:252"},
		{"varbinary", "varbinary(16)", "c:15"},
	}
	for _, tt := range tests {
		c, err := columnFromInformationSchema("c", tt.dataType, tt.columnType)
		if err != nil {
			t.Errorf("%s: %v", tt.columnType, err)
			continue
		}
		if got := strings.TrimSuffix(columns(&schema.TableDef{Columns: []schema.ColumnDef{c}}), " pk "); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.columnType, got, tt.want)
		}
	}
	if _, err := columnFromInformationSchema("c", "vector", "vector(3)"); err == nil {
		t.Error("an unknown data type was accepted")
	}
}

func TestSplitUse(t *testing.T) {
	for info, want := range map[string][2]string{
		"use `shop`; ALTER TABLE t ADD c INT": {"shop", "ALTER TABLE t ADD c INT"},
		"use `a``b`; DROP TABLE t":            {"a`b", "DROP TABLE t"},
		"CREATE DATABASE x":                   {"", "CREATE DATABASE x"},
	} {
		if db, q := splitUse(info); db != want[0] || q != want[1] {
			t.Errorf("splitUse(%q) = %q, %q", info, db, q)
		}
	}
}

// The decoder of either flavor reads table maps without names
// (binlog_row_metadata=MINIMAL) with the definitions the history took from
// the DDL before them, and follows an ALTER TABLE; a table the history
// cannot know, or a map without even signedness (NO_LOG), stops the stream
// with the fix.
func TestDecoderUsesHistoryForMapsWithoutNames(t *testing.T) {
	for _, flavor := range []string{mysql.MySQLFlavor, mysql.MariaDBFlavor} {
		t.Run(flavor, func(t *testing.T) {
			p, err := binlogtest.NewParser(flavor)
			if err != nil {
				t.Fatal(err)
			}
			d := newTestDecoder()
			d.history, d.ctx = newSchemaHistory(nil), context.Background()
			v1 := &binlogtest.Table{ID: 7, Schema: "shop", Name: "orders", Minimal: true, Columns: []binlogtest.Column{
				{Type: mysql.MYSQL_TYPE_LONG}, {Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, {Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{80, 0}, Collation: 45}}}
			v2 := &binlogtest.Table{ID: 8, Schema: "shop", Name: "orders", Minimal: true, Columns: []binlogtest.Column{
				{Type: mysql.MYSQL_TYPE_LONG}, {Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_ENUM, 1}},
				{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{80, 0}, Collation: 45}}}
			var rows []schema.Row
			for _, step := range [][]func() (replication.EventType, []byte){
				{query("shop", "CREATE TABLE orders (id INT PRIMARY KEY, total BIGINT UNSIGNED, note VARCHAR(20))")},
				{tableMap(v1), writeRows(v1, [][]byte{int32le(1), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, append([]byte{2}, "hi"...)})},
				{query("shop", "ALTER TABLE orders DROP COLUMN total, ADD COLUMN state ENUM('new','paid') AFTER id")},
				{tableMap(v2), writeRows(v2, [][]byte{int32le(2), {2}, append([]byte{2}, "yo"...)})},
			} {
				d.begin(&replication.EventHeader{})
				if _, err := feed(t, d, p, step...); err != nil {
					t.Fatal(err)
				}
				if d.txn != nil {
					rows = append(rows, d.txn.Rows...)
				}
			}
			if len(rows) != 2 {
				t.Fatalf("got %d rows, want 2", len(rows))
			}
			for i, want := range []string{"id=1 total=18446744073709551615 note=hi", "id=2 state=paid note=yo"} {
				if got := named(rows[i].Table, rows[i].After); got != want {
					t.Errorf("row %d: %s, want %s", i, got, want)
				}
			}
			unknown := &binlogtest.Table{ID: 9, Schema: "shop", Name: "other", Minimal: true, Columns: []binlogtest.Column{{Type: mysql.MYSQL_TYPE_LONG}}}
			if _, err := feed(t, d, p, tableMap(unknown)); err == nil || !strings.Contains(err.Error(), "shop.other") || !strings.Contains(err.Error(), "binlog_row_metadata=FULL") {
				t.Errorf("a table the history does not know: %v", err)
			}
			noLog := &binlogtest.Table{ID: 10, Schema: "shop", Name: "orders", NoNames: true, Columns: v1.Columns}
			if _, err := feed(t, d, p, tableMap(noLog)); err == nil || !strings.Contains(err.Error(), "binlog_row_metadata=MINIMAL or FULL") {
				t.Errorf("NO_LOG: %v", err)
			}
			wrong := &binlogtest.Table{ID: 11, Schema: "shop", Name: "orders", Minimal: true, Columns: v1.Columns}
			if _, err := feed(t, d, p, tableMap(wrong)); err == nil || !strings.Contains(err.Error(), "column state") || !strings.Contains(err.Error(), "does not match") {
				t.Errorf("a map that does not match the definition: %v", err)
			}
		})
	}
}
