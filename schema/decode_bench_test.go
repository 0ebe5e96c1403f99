package schema

import (
	"encoding/binary"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

// benchOrdersTable is the bench's orders table as TableFromMap builds it.
func benchOrdersTable() *Table {
	return NewTable("bench", "orders", []Column{
		{Name: "id", Type: mysql.MYSQL_TYPE_LONGLONG, RawType: mysql.MYSQL_TYPE_LONGLONG},
		{Name: "customer_id", Type: mysql.MYSQL_TYPE_LONGLONG, RawType: mysql.MYSQL_TYPE_LONGLONG},
		{Name: "amount", Type: mysql.MYSQL_TYPE_NEWDECIMAL, RawType: mysql.MYSQL_TYPE_NEWDECIMAL},
		{Name: "status", Type: mysql.MYSQL_TYPE_VARCHAR, RawType: mysql.MYSQL_TYPE_VARCHAR, Character: true},
		{Name: "note", Type: mysql.MYSQL_TYPE_BLOB, RawType: mysql.MYSQL_TYPE_BLOB, Character: true},
		{Name: "created_at", Type: mysql.MYSQL_TYPE_DATETIME2, RawType: mysql.MYSQL_TYPE_DATETIME2},
	}, []int{0})
}

// BenchmarkDecode decodes orders rows as go-mysql hands them over (with
// UseDecimal and ParseTime): one in three has a note, as in the bench.
func BenchmarkDecode(b *testing.B) {
	t := benchOrdersTable()
	at := time.Date(2024, 1, 1, 12, 30, 0, 123456000, time.UTC)
	rows := [3][]any{
		{int64(1000001), int64(4242), decimal.RequireFromString("123.45"), "paid", []byte("gift wrap, leave at door #42"), at},
		{int64(1000002), int64(4243), decimal.RequireFromString("7.05"), "new", nil, at},
		{int64(1000003), int64(17), decimal.RequireFromString("999.99"), "shipped", nil, at},
	}
	row := make([]any, len(t.Columns))
	decodeAll := func() {
		for _, r := range rows {
			copy(row, r)
			if err := t.Decode(row); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		decodeAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.ReportMetric(testing.AllocsPerRun(100, decodeAll)/float64(len(rows)), "allocs/row")
}

// recordedOrders is a rows event of 100 inserts into the bench's orders
// table (one in three with a note), recorded from MariaDB 10.11 with its
// format description and table map: testdata/orders_insert.binlog holds
// each event's bytes after a 4-byte little-endian length.
type recordedOrders struct {
	parser *replication.BinlogParser
	table  *Table
	tmap   []byte // the raw table map event
	rows   []byte // the raw rows event
	n      int    // rows in it
}

func loadRecordedOrders(tb testing.TB) *recordedOrders {
	data, err := os.ReadFile("testdata/orders_insert.binlog")
	if err != nil {
		tb.Fatal(err)
	}
	r := &recordedOrders{parser: replication.NewBinlogParser()}
	r.parser.SetFlavor(mysql.MariaDBFlavor)
	r.parser.SetParseTime(true)
	r.parser.SetUseDecimal(true)
	for len(data) > 4 {
		n := binary.LittleEndian.Uint32(data)
		raw := data[4 : 4+n]
		data = data[4+n:]
		ev, err := r.parser.Parse(raw)
		if err != nil {
			tb.Fatal(err)
		}
		switch e := ev.Event.(type) {
		case *replication.TableMapEvent:
			r.tmap = raw
			if r.table, err = TableFromMap(e); err != nil {
				tb.Fatal(err)
			}
		case *replication.RowsEvent:
			r.rows, r.n = raw, len(e.Rows)
		}
	}
	if r.table == nil || r.rows == nil {
		tb.Fatal("recording lacks a table map or rows event")
	}
	return r
}

// decode parses the table map and rows events (go-mysql, which forgets
// table maps at the end of each statement) and decodes every row (binflow).
func (r *recordedOrders) decode(tb testing.TB, each func(row []any)) {
	if _, err := r.parser.Parse(r.tmap); err != nil {
		tb.Fatal(err)
	}
	ev, err := r.parser.Parse(r.rows)
	if err != nil {
		tb.Fatal(err)
	}
	for _, row := range ev.Event.(*replication.RowsEvent).Rows {
		if err := r.table.Decode(row); err != nil {
			tb.Fatal(err)
		}
		each(row)
	}
}

type benchOrder struct {
	ID         int64           `db:"id"`
	CustomerID int64           `db:"customer_id"`
	Amount     decimal.Decimal `db:"amount"`
	Status     string          `db:"status"`
	Note       *string         `db:"note"`
	CreatedAt  time.Time       `db:"created_at"`
}

// BenchmarkDecodeRowsEvent: a recorded rows event of 100 orders, parsed by
// go-mysql and decoded into typed rows, then also into structs. allocs/row
// counts go-mysql's too (the row slice and every boxed value); binflow's
// share is in BenchmarkDecode and BenchmarkStructDecode.
func BenchmarkDecodeRowsEvent(b *testing.B) {
	r := loadRecordedOrders(b)
	binding, err := r.table.Binding(reflect.TypeFor[benchOrder]())
	if err != nil {
		b.Fatal(err)
	}
	var o benchOrder
	for _, c := range []struct {
		name string
		each func([]any)
	}{
		{"typed", func([]any) {}},
		{"struct", func(row []any) {
			if err := binding.Decode(row, &o); err != nil {
				b.Fatal(err)
			}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.decode(b, c.each)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*r.n), "ns/row")
			b.ReportMetric(testing.AllocsPerRun(20, func() { r.decode(b, c.each) })/float64(r.n), "allocs/row")
		})
	}
}

// BenchmarkStructDecode: typed rows into a struct, binflow's part alone
// (a *string field allocates its string's pointer when the note is set).
func BenchmarkStructDecode(b *testing.B) {
	r := loadRecordedOrders(b)
	var rows [][]any
	r.decode(b, func(row []any) { rows = append(rows, row) })
	binding, err := r.table.Binding(reflect.TypeFor[benchOrder]())
	if err != nil {
		b.Fatal(err)
	}
	var o benchOrder
	decodeAll := func() {
		for _, row := range rows {
			if err := binding.Decode(row, &o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		decodeAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.ReportMetric(testing.AllocsPerRun(20, decodeAll)/float64(len(rows)), "allocs/row")
}

// TestRecordedOrdersDecode: the recorded event decodes to the rows that
// were inserted (the benchmark measures real work).
func TestRecordedOrdersDecode(t *testing.T) {
	r := loadRecordedOrders(t)
	i := 0
	r.decode(t, func(row []any) {
		if i == 3 {
			want := []any{int64(4), int64(1111), decimal.RequireFromString("21.03"), "new", "gift wrap, leave at door #42",
				time.Date(2024, 1, 1, 12, 30, 0, 3702000, time.UTC)}
			for j := range want {
				if d, ok := want[j].(decimal.Decimal); ok {
					if !d.Equal(row[j].(decimal.Decimal)) {
						t.Errorf("column %d = %v, want %v", j, row[j], d)
					}
				} else if row[j] != want[j] {
					t.Errorf("column %d = %#v, want %#v", j, row[j], want[j])
				}
			}
		}
		i++
	})
	if i != 100 {
		t.Errorf("%d rows, want 100", i)
	}
}
