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
	if _, err := h.definition(context.Background(), "d.t", at(200), nil); err == nil || !strings.Contains(err.Error(), "RENAME COLUMN v TO w") {
		t.Errorf("before the ALTER: %v, want an error naming it", err)
	}
	if _, err := h.definition(context.Background(), "d.u", at(200), nil); err != nil {
		t.Errorf("a TRUNCATE changes no columns: %v", err)
	}
	got, err := h.definition(context.Background(), "d.t", at(300), nil)
	if err != nil || !reflect.DeepEqual(got, def) {
		t.Errorf("after the ALTER: %v, %v", columns(got), err)
	}
	if reads := up.reads; reads != 3 {
		t.Errorf("%d reads of information_schema, want 3", reads)
	}
	if _, err := h.definition(context.Background(), "d.t", at(600), nil); err != nil || up.reads != 3 {
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

// Rule 1, narrowed: a statement between the position and the read of
// information_schema stops binflow only when it may have changed what the
// table map takes from the definition. A MINIMAL map (only nil) takes all
// of it: statements that provably change no column nor the primary key do
// not stop. A FULL map takes only its 16-byte binary columns' types: only
// a statement naming one of them, or the table's identity, or one binflow
// cannot parse stops.
func TestSchemaHistoryWindowStopsOnlyWhenItMatters(t *testing.T) {
	full := []string{"ip", "raw"}
	tests := []struct {
		name  string
		query string
		only  []string
		stops bool
	}{
		{"minimal: add index", "ALTER TABLE t ADD INDEX i (a)", nil, false},
		{"minimal: add unique key", "ALTER TABLE t ADD UNIQUE KEY u (a, b)", nil, false},
		{"minimal: drop index", "ALTER TABLE t DROP INDEX i", nil, false},
		{"minimal: foreign key", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id)", nil, false},
		{"minimal: drop foreign key", "ALTER TABLE t DROP FOREIGN KEY fk", nil, false},
		{"minimal: options", "ALTER TABLE t COMMENT 'x', ENGINE=InnoDB, AUTO_INCREMENT=5", nil, false},
		{"minimal: rename index", "ALTER TABLE t RENAME INDEX i TO j", nil, false},
		{"minimal: online with wait", "ALTER ONLINE TABLE t WAIT 2 ADD INDEX (a), ALGORITHM=INPLACE", nil, false},
		{"minimal: create index", "CREATE INDEX i ON t (a)", nil, false},
		{"minimal: drop index statement", "DROP INDEX i ON t", nil, false},
		{"minimal: truncate", "TRUNCATE TABLE t", nil, false},
		{"minimal: add column", "ALTER TABLE t ADD COLUMN x INT", nil, true},
		{"minimal: index and column", "ALTER TABLE t ADD INDEX (a), ADD COLUMN x INT", nil, true},
		{"minimal: partition and column", "ALTER TABLE t ADD COLUMN x INT, TRUNCATE PARTITION p0", nil, true},
		{"minimal: primary key", "ALTER TABLE t ADD PRIMARY KEY (a)", nil, true},
		{"minimal: drop primary key", "ALTER TABLE t DROP PRIMARY KEY", nil, true},
		{"minimal: drop index primary", "ALTER TABLE t DROP INDEX `PRIMARY`", nil, true},
		{"minimal: drop index primary statement", "DROP INDEX `PRIMARY` ON t", nil, true},
		{"minimal: convert charset", "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", nil, true},
		{"minimal: functional index", "ALTER TABLE t ADD INDEX ((a + 1))", nil, true},
		{"minimal: unparsable", "ALTER TABLE t ADD SYSTEM VERSIONING", nil, true},
		{"minimal: add index if not exists", "ALTER TABLE t ADD INDEX IF NOT EXISTS i (a)", nil, false},
		{"minimal: unparsable index", "ALTER TABLE t ADD UNIQUE INDEX IF NOT EXISTS u (a)", nil, true},
		{"minimal: rename table", "RENAME TABLE t TO old", nil, true},
		{"minimal: renamed in", "ALTER TABLE other RENAME TO t", nil, true},
		{"minimal: another table", "ALTER TABLE other ADD COLUMN x INT", nil, false},
		{"full: add another column", "ALTER TABLE t ADD COLUMN x INT AFTER ip", full, false},
		{"full: modify another column", "ALTER TABLE t MODIFY a BIGINT, DROP COLUMN b", full, false},
		{"full: rename another column", "ALTER TABLE t RENAME COLUMN a TO b", full, false},
		{"full: add index", "ALTER TABLE t ADD INDEX (ip)", full, false},
		{"full: primary key", "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (ip)", full, false},
		{"full: drop index primary statement", "DROP INDEX `PRIMARY` ON t", full, false},
		{"full: convert charset", "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", full, false},
		{"full: another table's ip", "ALTER TABLE other MODIFY ip BINARY(16)", full, false},
		{"full: modify it", "ALTER TABLE t MODIFY ip BINARY(16)", full, true},
		{"full: modify it, other case", "ALTER TABLE t MODIFY `RAW` BINARY(16)", full, true},
		{"full: drop it", "ALTER TABLE t DROP COLUMN raw", full, true},
		{"full: add it", "ALTER TABLE t ADD COLUMN ip BINARY(16)", full, true},
		{"full: change it away", "ALTER TABLE t CHANGE ip addr BINARY(16)", full, true},
		{"full: change another to it", "ALTER TABLE t CHANGE addr ip BINARY(16)", full, true},
		{"full: rename another to it", "ALTER TABLE t RENAME COLUMN addr TO raw", full, true},
		{"full: unparsable", "ALTER TABLE t MODIFY ip INET6", full, true},
		{"full: unparsable elsewhere", "ALTER TABLE t ADD COLUMN u UUID", full, true},
		{"full: rename table", "ALTER TABLE t RENAME TO u", full, true},
		{"full: swapped in", "RENAME TABLE t TO t_old, t_new TO t", full, true},
		{"full: recreated", "CREATE OR REPLACE TABLE t (ip BINARY(16))", full, true},
		{"full: dropped", "DROP TABLE t", full, true},
		{"full: functional index", "ALTER TABLE t ADD INDEX ((a + 1))", full, true},
	}
	def := &schema.TableDef{Columns: []schema.ColumnDef{{Name: "id", Type: 3}, {Name: "ip", Type: 254, Format: schema.FormatInet6}, {Name: "raw", Type: 254}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &fakeUpstream{defs: map[string]*schema.TableDef{"d.t": def}, end: at(1000),
				stmts: []loggedStatement{{End: at(300), DefaultSchema: "d", Query: tt.query}}}
			h := newSchemaHistory(up)
			got, err := h.definition(context.Background(), "d.t", at(200), tt.only)
			if tt.stops {
				if err == nil || !strings.Contains(err.Error(), tt.query) {
					t.Errorf("%v, want an error naming the statement", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, def) {
				t.Fatalf("%s, %v", columns(got), err)
			}
			// Past a statement that changes other columns, the definition is
			// exact for the columns asked for only.
			_, partial := h.partial["d.t"]
			if wantPartial := tt.only != nil && h.touches(up.stmts[0], "d.t"); partial != wantPartial {
				t.Errorf("partial %v, want %v", partial, wantPartial)
			}
		})
	}
}

// A definition exact only for a FULL map's 16-byte columns serves FULL maps
// needing those columns; a MINIMAL map, or one needing other columns, reads
// information_schema again (and stops where the window says so); an ALTER
// of its columns forgets it.
func TestSchemaHistoryPartialDefinitions(t *testing.T) {
	def := &schema.TableDef{Columns: []schema.ColumnDef{{Name: "id", Type: 3}, {Name: "ip", Type: 254, Format: schema.FormatInet6},
		{Name: "x", Type: 3}, {Name: "raw", Type: 254}}}
	up := &fakeUpstream{defs: map[string]*schema.TableDef{"d.t": def}, end: at(1000), stmts: []loggedStatement{
		{End: at(300), DefaultSchema: "d", Query: "ALTER TABLE t ADD COLUMN x INT AFTER ip"},
		{End: at(400), DefaultSchema: "d", Query: "ALTER TABLE t MODIFY raw BINARY(16) NOT NULL"},
	}}
	ctx := context.Background()
	h := newSchemaHistory(up)
	if _, err := h.definition(ctx, "d.t", at(200), []string{"IP"}); err != nil {
		t.Fatal(err)
	}
	if got := h.partial["d.t"]; !reflect.DeepEqual(got, []string{"IP"}) {
		t.Errorf("partial for %v, want IP", got)
	}
	if _, err := h.definition(ctx, "d.t", at(250), []string{"ip"}); err != nil || up.reads != 1 {
		t.Errorf("the same column again: %d reads, %v", up.reads, err)
	}
	if _, err := h.definition(ctx, "d.t", at(250), []string{"ip", "raw"}); err == nil || !strings.Contains(err.Error(), "MODIFY raw") {
		t.Errorf("another column, retyped in the window: %v", err)
	}
	if _, err := h.definition(ctx, "d.t", at(250), nil); err == nil || !strings.Contains(err.Error(), "ADD COLUMN x") {
		t.Errorf("the whole definition, columns changed in the window: %v", err)
	}
	// The reader passes the window's statements: the first changes columns
	// of a partial definition, which is forgotten; read again past both, it
	// is exact for every column.
	if err := h.statement(ctx, at(300), "d", up.stmts[0].Query); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.known["d.t"]; ok {
		t.Error("a partial definition was kept across an ALTER of its columns")
	}
	reads := up.reads
	if _, err := h.definition(ctx, "d.t", at(400), nil); err != nil || up.reads != reads+1 {
		t.Errorf("past the window: %d reads, %v", up.reads-reads, err)
	}
	if _, partial := h.partial["d.t"]; partial {
		t.Error("nothing in the window, and the definition is still partial")
	}
	// Options and indexes keep a partial definition partial; RENAME moves it.
	h = newSchemaHistory(up)
	if _, err := h.definition(ctx, "d.t", at(200), []string{"ip"}); err != nil {
		t.Fatal(err)
	}
	for i, q := range []string{"ALTER TABLE t ADD INDEX (x), COMMENT 'c'", "RENAME TABLE t TO u"} {
		if err := h.statement(ctx, at(uint32(1100+i)), "d", q); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := h.partial["d.u"]; !ok || !reflect.DeepEqual(got, []string{"ip"}) || h.known["d.u"] == nil || h.known["d.t"] != nil {
		t.Errorf("after ADD INDEX and RENAME: partial %v %v, known %v", got, ok, h.known)
	}
}

// A FULL table map with a BINARY(16) and an INET6 column, read past an
// ALTER that adds a column elsewhere and an index: the names come from the
// map, INET6 from the definition, values exact; the primary key only from
// the map (none here), not from a definition that may be later than it.
func TestDecoderFullMapWithBinary16PastUnrelatedAlter(t *testing.T) {
	for _, flavor := range []string{mysql.MySQLFlavor, mysql.MariaDBFlavor} {
		t.Run(flavor, func(t *testing.T) {
			p, err := binlogtest.NewParser(flavor)
			if err != nil {
				t.Fatal(err)
			}
			def := &schema.TableDef{Columns: []schema.ColumnDef{{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
				{Name: "added", Type: mysql.MYSQL_TYPE_LONG}, {Name: "raw", Type: mysql.MYSQL_TYPE_STRING},
				{Name: "ip", Type: mysql.MYSQL_TYPE_STRING, Format: schema.FormatInet6}}, PrimaryKey: []string{"added"}}
			up := &fakeUpstream{defs: map[string]*schema.TableDef{"shop.hosts": def}, end: at(1000), stmts: []loggedStatement{
				{End: at(300), DefaultSchema: "shop", Query: "ALTER TABLE hosts ADD COLUMN added INT AFTER id, ADD INDEX (raw)"},
				{End: at(400), DefaultSchema: "shop", Query: "ALTER TABLE hosts ADD PRIMARY KEY (added)"},
			}}
			d := newTestDecoder()
			d.history, d.ctx = newSchemaHistory(up), context.Background()
			bin16 := []byte{mysql.MYSQL_TYPE_STRING, 16}
			tbl := &binlogtest.Table{ID: 7, Schema: "shop", Name: "hosts", Columns: []binlogtest.Column{
				{Name: "id", Type: mysql.MYSQL_TYPE_LONG}, {Name: "ip", Type: mysql.MYSQL_TYPE_STRING, Meta: bin16, Collation: 63},
				{Name: "raw", Type: mysql.MYSQL_TYPE_STRING, Meta: bin16, Collation: 63}}}
			addr := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
			d.begin(&replication.EventHeader{})
			_, err = feed(t, d, p, tableMap(tbl), writeRows(tbl, [][]byte{int32le(1), append([]byte{16}, addr...), append([]byte{16}, addr...)}))
			if err != nil {
				t.Fatal(err)
			}
			rows := d.txn.Rows
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			if got, want := named(rows[0].Table, rows[0].After), "id=1 ip=2001:db8::1 raw="+fmt.Sprint(addr); got != want {
				t.Errorf("decoded %q, want %q", got, want)
			}
			if pk := rows[0].Table.PrimaryKey; len(pk) != 0 {
				t.Errorf("primary key %v from a definition later than the map", pk)
			}
			// An ALTER retyping ip in the window stops, naming it.
			up.stmts = append(up.stmts, loggedStatement{End: at(500), DefaultSchema: "shop", Query: "ALTER TABLE hosts MODIFY ip BINARY(16)"})
			d = newTestDecoder()
			d.history, d.ctx = newSchemaHistory(up), context.Background()
			if _, err := feed(t, d, p, tableMap(tbl)); err == nil || !strings.Contains(err.Error(), "MODIFY ip") || !strings.Contains(err.Error(), "columns ip, raw are") {
				t.Errorf("ip retyped in the window: %v", err)
			}
		})
	}
}

// Against the server, with FULL metadata: a table with a BINARY(16) and an
// INET6 column, rows read from a position before an ALTER that adds an
// index and a column elsewhere (done before binflow reads the table): the
// values are exact, the primary key the map's. An ALTER of the INET6
// column itself in the window stops, naming it.
func TestFullMetadataBinary16PastUnrelatedAlter(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "hist")
	tbl := "`" + db + "`.hosts"
	mustExec(t, up, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, raw BINARY(16), ip INET6, note VARCHAR(10))")
	src, err := NewSource(context.Background(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	from, err := src.CurrentPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (1, UNHEX('20010DB8000000000000000000000001'), '2001:db8::1', 'one')")
	mustExec(t, up, "ALTER TABLE "+tbl+" ADD INDEX (raw), ADD INDEX (ip), COMMENT 'hosts'")
	mustExec(t, up, "ALTER TABLE "+tbl+" ADD COLUMN extra INT AFTER id")
	mustExec(t, up, "INSERT INTO "+tbl+" (id, extra, raw, ip, note) VALUES (2, 5, UNHEX('00000000000000000000FFFF0A000001'), '::ffff:10.0.0.1', 'two')")
	rows, err := streamRows(t, from, db, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"id=1 raw=[32 1 13 184 0 0 0 0 0 0 0 0 0 0 0 1] ip=2001:db8::1 note=one",
		"id=2 extra=5 raw=[0 0 0 0 0 0 0 0 0 0 255 255 10 0 0 1] ip=::ffff:10.0.0.1 note=two",
	}
	for i, r := range rows {
		if got := named(r.Table, r.After); got != want[i] {
			t.Errorf("row %d: %s, want %s", i, got, want[i])
		}
		if pk := r.Table.PrimaryKey; len(pk) != 1 || r.Table.Columns[pk[0]].Name != "id" {
			t.Errorf("row %d: primary key %v, want id", i, pk)
		}
	}
	alter := "ALTER TABLE " + tbl + " MODIFY ip BINARY(16)"
	mustExec(t, up, alter)
	if _, err := streamRows(t, from, db, 2); err == nil || !strings.Contains(err.Error(), "MODIFY ip BINARY(16)") {
		t.Errorf("the INET6 column retyped after the position: %v", err)
	}
}

// Against the server, with MINIMAL metadata: an ALTER that adds and drops
// indexes and changes options after the position does not stop binflow
// reading rows from before it; one that also adds a column does.
func TestMinimalMetadataReadsPastIndexChanges(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "hist")
	tbl := "`" + db + "`.t"
	mustExec(t, up, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, e ENUM('p','q'), v VARCHAR(10), KEY old (v))")
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
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (1, 'q', 'one')")
	mustExec(t, up, "ALTER TABLE "+tbl+" ADD INDEX (e), DROP INDEX old, COMMENT 'c', AUTO_INCREMENT = 10")
	mustExec(t, up, "CREATE INDEX iv ON "+tbl+" (v)")
	mustExec(t, up, "ALTER TABLE "+tbl+" RENAME INDEX iv TO jv, ENGINE = InnoDB")
	mustExec(t, up, "INSERT INTO "+tbl+" VALUES (2, 'p', 'two')")
	rows, err := streamRows(t, from, db, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"id=1 e=q v=one", "id=2 e=p v=two"} {
		if got := named(rows[i].Table, rows[i].After); got != want {
			t.Errorf("row %d: %s, want %s", i, got, want)
		}
	}
	alter := "ALTER TABLE " + tbl + " ADD INDEX (id, v), ADD COLUMN w INT"
	mustExec(t, up, alter)
	if _, err := streamRows(t, from, db, 2); err == nil || !strings.Contains(err.Error(), "ADD COLUMN w INT") {
		t.Errorf("a column added after the position: %v", err)
	}
}
