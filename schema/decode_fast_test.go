package schema

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/shopspring/decimal"
)

// TestDecodeIntegers covers every integer Go type go-mysql produces, around
// the bounds of the pre-boxed small values.
func TestDecodeIntegers(t *testing.T) {
	cases := []struct {
		in   any
		want any
	}{
		{int8(math.MinInt8), int64(math.MinInt8)}, {int8(-1), int64(-1)}, {int8(0), int64(0)}, {int8(math.MaxInt8), int64(math.MaxInt8)},
		{int16(math.MinInt16), int64(math.MinInt16)}, {int16(-129), int64(-129)}, {int16(-128), int64(-128)},
		{int16(1023), int64(1023)}, {int16(1024), int64(1024)}, {int16(math.MaxInt16), int64(math.MaxInt16)},
		{int32(math.MinInt32), int64(math.MinInt32)}, {int32(255), int64(255)}, {int32(256), int64(256)}, {int32(math.MaxInt32), int64(math.MaxInt32)},
		{int64(math.MinInt64), int64(math.MinInt64)}, {int64(-7), int64(-7)}, {int64(math.MaxInt64), int64(math.MaxInt64)},
		{int(-5), int64(-5)}, {int(1 << 40), int64(1 << 40)},
		{uint8(math.MaxUint8), uint64(math.MaxUint8)}, {uint16(math.MaxUint16), uint64(math.MaxUint16)},
		{uint32(math.MaxUint32), uint64(math.MaxUint32)}, {uint64(math.MaxUint64), uint64(math.MaxUint64)},
	}
	tbl := NewTable("s", "t", []Column{{Name: "i", Type: mysql.MYSQL_TYPE_LONGLONG}}, nil)
	for _, c := range cases {
		row := []any{c.in}
		if err := tbl.Decode(row); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(row[0], c.want) {
			t.Errorf("%T %v: got %#v, want %#v", c.in, c.in, row[0], c.want)
		}
	}
}

func TestDecodeTimes(t *testing.T) {
	tbl := NewTable("s", "t", []Column{{Name: "at", Type: mysql.MYSQL_TYPE_DATETIME2}}, nil)
	utc := time.Date(2024, 1, 1, 12, 0, 0, 5000, time.UTC)
	now := time.Now() // local, with a monotonic reading: both must go
	for _, in := range []time.Time{utc, utc.In(time.FixedZone("X", -7200)), now, now.UTC(), utc.Local()} {
		row := []any{in}
		if err := tbl.Decode(row); err != nil {
			t.Fatal(err)
		}
		got := row[0].(time.Time)
		if got != in.UTC() || got.Location() != time.UTC || !got.Equal(in) {
			t.Errorf("%v: got %#v, want %#v", in, got, in.UTC())
		}
	}
}

// TestDecodeKeepsTypedValues: values that already have their binflow type
// are left as they are, so the common row does not allocate.
func TestDecodeKeepsTypedValues(t *testing.T) {
	tbl := benchOrdersTable()
	at := time.Date(2024, 1, 1, 12, 30, 0, 123456000, time.UTC)
	tmpl := []any{int64(1000001), int64(4242), decimal.RequireFromString("123.45"), "paid", nil, at}
	row := make([]any, len(tmpl))
	allocs := testing.AllocsPerRun(100, func() {
		copy(row, tmpl)
		if err := tbl.Decode(row); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode of an orders row allocates %v times", allocs)
	}
	if !reflect.DeepEqual(row, tmpl) {
		t.Errorf("decoded %#v, want %#v", row, tmpl)
	}
	// The strings of character columns logged as bytes are copies.
	b := []byte("gift wrap")
	row = []any{int64(1), int64(2), decimal.Zero, "new", b, at}
	if err := tbl.Decode(row); err != nil {
		t.Fatal(err)
	}
	b[0] = 'G'
	if row[4] != "gift wrap" {
		t.Errorf("note = %#v, want a copy", row[4])
	}
}

// TestDecodeStringColumns: which string-typed values stay strings.
func TestDecodeStringColumns(t *testing.T) {
	tbl := NewTable("s", "t", []Column{
		{Name: "vc", Type: mysql.MYSQL_TYPE_VARCHAR, Character: true},
		{Name: "vb", Type: mysql.MYSQL_TYPE_VARCHAR},
		{Name: "bin", Type: mysql.MYSQL_TYPE_STRING},
		{Name: "vs", Type: mysql.MYSQL_TYPE_VAR_STRING},
		{Name: "ch", Type: mysql.MYSQL_TYPE_STRING, Character: true},
		{Name: "dec_str", Type: mysql.MYSQL_TYPE_NEWDECIMAL},
		{Name: "day", Type: mysql.MYSQL_TYPE_NEWDATE},
		{Name: "json", Type: mysql.MYSQL_TYPE_JSON},
	}, nil)
	row := []any{"a", "b", "c", "d", "e", "1.5", "2024-01-02", []byte(`{"a":1}`)}
	if err := tbl.Decode(row); err != nil {
		t.Fatal(err)
	}
	want := []any{"a", []byte("b"), []byte("c"), []byte("d"), "e", "1.5", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), `{"a":1}`}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("got %#v, want %#v", row, want)
	}
}
