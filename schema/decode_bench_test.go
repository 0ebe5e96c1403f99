package schema

import (
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
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
