package canal

import (
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/schema/binlogtest"
)

// Tests of the decoder on events written by binlogtest: paths a MariaDB
// testenv cannot exercise (MySQL 8's binary JSON, binlog_row_metadata
// MINIMAL) and the schema bookkeeping between table maps.

func newTestDecoder() *decoder {
	return &decoder{file: "mysql-bin.000001", tables: map[uint64]*schema.Table{}, maps: map[uint64]*replication.TableMapEvent{},
		bodies: newRowsBodies()}
}

// feed parses and decodes events in order, returning the transactions the
// decoder completed and the first error.
func feed(t *testing.T, d *decoder, p *binlogtest.Parser, events ...func() (replication.EventType, []byte)) ([]*schema.Txn, error) {
	t.Helper()
	if d.bodies != nil {
		p.SetRowsEventDecodeFunc(d.bodies.decodeHeader) // as the reader's syncer does
	}
	var txns []*schema.Txn
	for _, ev := range events {
		typ, body := ev()
		e, err := p.Parse(typ, body)
		if err != nil {
			t.Fatalf("parse %s: %v", typ, err)
		}
		txn, err := d.event(e)
		if err != nil {
			return txns, err
		}
		if txn != nil {
			txns = append(txns, txn)
		}
	}
	return txns, nil
}

func tableMap(tbl *binlogtest.Table) func() (replication.EventType, []byte) {
	return func() (replication.EventType, []byte) { return replication.TABLE_MAP_EVENT, tbl.MapBody() }
}

func writeRows(tbl *binlogtest.Table, rows ...[][]byte) func() (replication.EventType, []byte) {
	return func() (replication.EventType, []byte) {
		return replication.WRITE_ROWS_EVENTv2, tbl.RowsBody(false, rows...)
	}
}

func query(schemaName, q string) func() (replication.EventType, []byte) {
	return func() (replication.EventType, []byte) {
		return replication.QUERY_EVENT, binlogtest.QueryBody(schemaName, q)
	}
}

func int32le(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// jsonValue is a JSON column value in a rows event: 4-byte length, then the
// MySQL binary JSON document.
func jsonValue(doc string) []byte { return append(int32le(uint32(len(doc))), doc...) }

// TestMySQLBinaryJSON decodes MySQL's binary JSON (recorded from MySQL by
// go-mysql's tests, the on-disk format of 5.7 and 8.0) into JSON text.
func TestMySQLBinaryJSON(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		// INSERT ... VALUES ('{"key1": "value1", "key2": "value2"}')
		{"object", "\x00\x02\x00(\x00\x12\x00\x04\x00\x16\x00\x04\x00\f\x1a\x00\f!\x00key1key2\x06value1\x06value2", `{"key1":"value1","key2":"value2"}`},
		// UPDATE t11 SET cfg = '{"a":1234}'
		{"object with int16", "\x00\x01\x00\x0c\x00\x0b\x00\x01\x00\x05\xd2\x04a", `{"a":1234}`},
		// '{}'
		{"empty object", "\x00\x00\x00\x04\x00", `{}`},
		// [1, true, null, "x", 2.5]: small array of inlined int16 and
		// literals, then a string and a double stored after the entries.
		{"array", "\x02\x05\x00\x1d\x00\x05\x01\x00\x04\x01\x00\x04\x00\x00\x0c\x13\x00\x0b\x15\x00\x01x\x00\x00\x00\x00\x00\x00\x04\x40", `[1,true,null,"x",2.5]`},
		// An empty value (an IGNOREd or non-strict NULL into NOT NULL):
		// MySQL reads it as the JSON null literal.
		{"empty value", "", "null"},
	}
	p, err := binlogtest.NewParser(mysql.MySQLFlavor)
	if err != nil {
		t.Fatal(err)
	}
	tbl := &binlogtest.Table{ID: 109, Schema: "test", Name: "t10", Columns: []binlogtest.Column{
		{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
		{Name: "doc", Type: mysql.MYSQL_TYPE_JSON, Meta: []byte{4}},
	}}
	var rows [][][]byte
	for i, c := range cases {
		rows = append(rows, [][]byte{int32le(uint32(i)), jsonValue(c.doc)})
	}
	d := newTestDecoder()
	d.begin(&replication.EventHeader{})
	if _, err := feed(t, d, p, tableMap(tbl), writeRows(tbl, rows...)); err != nil {
		t.Fatal(err)
	}
	got := d.txn.Rows
	if len(got) != len(cases) {
		t.Fatalf("%d rows, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		if v := got[i].After[1]; v != c.want {
			t.Errorf("%s: decoded %#v, want %q", c.name, v, c.want)
		}
	}
}

// TestTableMapWithoutNamesStopsWithTheFix: without
// binlog_row_metadata=FULL, the reader refuses to guess and says what to set.
func TestTableMapWithoutNamesStopsWithTheFix(t *testing.T) {
	for _, flavor := range []string{mysql.MySQLFlavor, mysql.MariaDBFlavor} {
		p, err := binlogtest.NewParser(flavor)
		if err != nil {
			t.Fatal(err)
		}
		tbl := &binlogtest.Table{ID: 7, Schema: "shop", Name: "orders", NoNames: true,
			Columns: []binlogtest.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONG}}}
		_, err = feed(t, newTestDecoder(), p, tableMap(tbl))
		if err == nil {
			t.Fatalf("%s: table map without names accepted", flavor)
		}
		for _, want := range []string{"shop.orders", "binlog_row_metadata=FULL"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", flavor, err, want)
			}
		}
	}
}

// TestSchemaFollowsEveryTableMap: a table map that changes only metadata
// (the same type bytes) gives a new schema, and an unchanged one reuses
// the old.
func TestSchemaFollowsEveryTableMap(t *testing.T) {
	p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	const latin1, utf8mb4 = 8, 45
	v1 := &binlogtest.Table{ID: 5, Schema: "shop", Name: "t", Columns: []binlogtest.Column{
		{Name: "name", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{40, 0}, Collation: latin1},
		{Name: "e", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_ENUM, 1}, Collation: utf8mb4, Values: []string{"a", "b"}},
	}}
	// ALTER TABLE t MODIFY name VARCHAR(10) CHARACTER SET utf8mb4, MODIFY e ENUM('z','a','b')
	v2 := &binlogtest.Table{ID: 5, Schema: "shop", Name: "t", Columns: []binlogtest.Column{
		{Name: "name", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{40, 0}, Collation: utf8mb4},
		{Name: "e", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_ENUM, 1}, Collation: utf8mb4, Values: []string{"z", "a", "b"}},
	}}
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	d := newTestDecoder()
	d.begin(&replication.EventHeader{})
	if _, err := feed(t, d, p,
		tableMap(v1), writeRows(v1, [][]byte{str("caf\xe9"), {2}}),
		tableMap(v1), writeRows(v1, [][]byte{str("caf\xe9"), {1}}),
		tableMap(v2), writeRows(v2, [][]byte{str("café"), {1}}),
	); err != nil {
		t.Fatal(err)
	}
	rows := d.txn.Rows
	want := [][]any{{"café", "b"}, {"café", "a"}, {"café", "z"}}
	for i, w := range want {
		if rows[i].After[0] != w[0] || rows[i].After[1] != w[1] {
			t.Errorf("row %d = %#v, want %#v", i, rows[i].After, w)
		}
	}
	if rows[0].Table != rows[1].Table {
		t.Error("an unchanged table map rebuilt the schema")
	}
	if rows[1].Table == rows[2].Table {
		t.Error("a table map with new metadata kept the old schema")
	}
}

// TestStatementsCarryTheirTableChanges: statements logged as queries reach
// the flows with what they do to tables, or with why they could not be read.
func TestStatementsCarryTheirTableChanges(t *testing.T) {
	p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	txns, err := feed(t, newTestDecoder(), p,
		query("shop", "TRUNCATE TABLE orders"),
		query("shop", "RENAME TABLE orders TO old, new TO orders"),
		query("shop", "ALTER TABLE orders ADD SYSTEM VERSIONING"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != 3 {
		t.Fatalf("%d transactions, want 3", len(txns))
	}
	if c := txns[0].Changes; len(c) != 1 || c[0].Kind != schema.ChangeTruncate || c[0].Table != "shop.orders" || txns[0].QueryErr != nil {
		t.Errorf("TRUNCATE: %+v %v", c, txns[0].QueryErr)
	}
	if c := txns[1].Changes; len(c) != 2 || c[1].To != "shop.orders" {
		t.Errorf("RENAME: %+v", c)
	}
	if txns[2].QueryErr == nil || txns[2].Query != "ALTER TABLE orders ADD SYSTEM VERSIONING" || txns[2].End.IsZero() {
		t.Errorf("unparsable statement: %+v", txns[2])
	}
}

// TestRowsOfUnreadTablesAreSkipped: with a table filter, rows events of
// other tables are left undecoded and out of the transaction, which still
// completes; rows of the read table are decoded (by the image decoder:
// its columns are all of handled types), and the other table's schema is
// not even resolved.
func TestRowsOfUnreadTablesAreSkipped(t *testing.T) {
	p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	const latin1 = 8
	cols := []binlogtest.Column{
		{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
		{Name: "name", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{40, 0}, Collation: latin1},
	}
	read := &binlogtest.Table{ID: 5, Schema: "shop", Name: "orders", Columns: cols}
	// The unread table's map has no column names (binlog_row_metadata =
	// MINIMAL): its schema is never needed, so that must not stop the reader.
	other := &binlogtest.Table{ID: 6, Schema: "shop", Name: "audit", Columns: cols, Minimal: true}
	row := func(id uint32, name string) [][]byte {
		return [][]byte{int32le(id), append([]byte{byte(len(name))}, name...)}
	}
	d := newTestDecoder()
	d.only = map[string]bool{"shop.orders": true}
	d.begin(&replication.EventHeader{})
	if _, err := feed(t, d, p,
		tableMap(read), tableMap(other),
		writeRows(other, row(1, "x")),
		writeRows(read, row(7, "caf\xe9"), row(8, "b")),
		writeRows(other, row(2, "y")),
	); err != nil {
		t.Fatal(err)
	}
	if d.images[5] == nil {
		t.Error("no image decoder for a table of handled column types")
	}
	rows := d.txn.Rows
	if len(rows) != 2 {
		t.Fatalf("%d rows, want the 2 of shop.orders", len(rows))
	}
	for i, want := range [][]any{{int64(7), "café"}, {int64(8), "b"}} {
		if rows[i].Table.FullName() != "shop.orders" || rows[i].After[0] != want[0] || rows[i].After[1] != want[1] {
			t.Errorf("row %d = %s %#v, want %#v", i, rows[i].Table.FullName(), rows[i].After, want)
		}
	}
	if len(d.bodies.m) != 0 {
		t.Errorf("%d rows bodies left behind", len(d.bodies.m))
	}
}
