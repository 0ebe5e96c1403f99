package schema

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/shopspring/decimal"
)

func TestPositionCompare(t *testing.T) {
	cases := []struct {
		a, b Position
		want int
	}{
		{Position{"mysql-bin.000001", 4}, Position{"mysql-bin.000001", 4}, 0},
		{Position{"mysql-bin.000001", 4}, Position{"mysql-bin.000001", 5}, -1},
		{Position{"mysql-bin.000002", 4}, Position{"mysql-bin.000001", 900}, 1},
		{Position{"mysql-bin.999999", 4}, Position{"mysql-bin.1000000", 4}, -1},
	}
	for _, c := range cases {
		if got := c.a.Compare(c.b); got != c.want {
			t.Errorf("%s vs %s = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := c.b.Compare(c.a); got != -c.want {
			t.Errorf("%s vs %s = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	tbl := NewTable("s", "t", []Column{
		{Name: "i8", Type: mysql.MYSQL_TYPE_TINY},
		{Name: "u64", Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true},
		{Name: "d", Type: mysql.MYSQL_TYPE_NEWDECIMAL},
		{Name: "txt", Type: mysql.MYSQL_TYPE_BLOB, Character: true},
		{Name: "bin", Type: mysql.MYSQL_TYPE_BLOB},
		{Name: "day", Type: mysql.MYSQL_TYPE_DATE},
		{Name: "zero_day", Type: mysql.MYSQL_TYPE_DATE},
		{Name: "ts", Type: mysql.MYSQL_TYPE_TIMESTAMP2},
		{Name: "e", Type: mysql.MYSQL_TYPE_ENUM, Enum: []string{"a", "b"}},
		{Name: "set", Type: mysql.MYSQL_TYPE_SET, Set: []string{"x", "y", "z"}},
		{Name: "null", Type: mysql.MYSQL_TYPE_LONG},
	}, []int{0})
	local := time.FixedZone("X", 3600)
	row := []any{int8(-128), uint64(18446744073709551615), decimal.RequireFromString("12345678901234567890.123456789"),
		[]byte("héllo 🎉"), []byte{0, 1, 2}, "2024-02-29", "0000-00-00", time.Date(2024, 1, 1, 1, 0, 0, 500000000, local),
		int64(2), int64(5), nil}
	if err := tbl.Decode(row); err != nil {
		t.Fatal(err)
	}
	want := []any{int64(-128), uint64(18446744073709551615), decimal.RequireFromString("12345678901234567890.123456789"),
		"héllo 🎉", []byte{0, 1, 2}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Time{},
		time.Date(2024, 1, 1, 0, 0, 0, 500000000, time.UTC), "b", "x,z", nil}
	for i := range want {
		if !reflect.DeepEqual(row[i], want[i]) {
			t.Errorf("%s: got %#v, want %#v", tbl.Columns[i].Name, row[i], want[i])
		}
	}
	if err := tbl.Decode(row[:3]); err == nil {
		t.Error("short row accepted")
	}
	bad := NewTable("s", "t", []Column{{Name: "e", Type: mysql.MYSQL_TYPE_ENUM, Enum: []string{"a"}}}, nil)
	if err := bad.Decode([]any{int64(7)}); err == nil {
		t.Error("enum index out of range accepted")
	}
}

type target struct {
	ID     int32           `binflow:"id"`
	Amount decimal.Decimal `db:"amount"`
	Note   *string         `db:"note"`
	Skip   string          `binflow:"-"`
	Small  uint8           `binflow:"small"`
}

func TestStructBinding(t *testing.T) {
	cols := []string{"amount", "id", "note", "small", "other"}
	b, err := Bind(reflect.TypeOf(target{}), cols)
	if err != nil {
		t.Fatal(err)
	}
	var got target
	if err := b.Decode([]any{decimal.RequireFromString("1.10"), int64(7), nil, uint64(200), "x"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.Amount.String() != "1.1" || got.Note != nil || got.Small != 200 {
		t.Errorf("decoded %+v", got)
	}
	errCases := []struct {
		name string
		row  []any
	}{
		{"int overflow", []any{decimal.Zero, int64(1 << 40), nil, uint64(1), nil}},
		{"negative into unsigned", []any{decimal.Zero, int64(1), nil, int64(-1), nil}},
		{"string into int", []any{decimal.Zero, "7", nil, uint64(1), nil}},
		{"uint overflow", []any{decimal.Zero, int64(1), nil, uint64(300), nil}},
	}
	for _, c := range errCases {
		if err := b.Decode(c.row, &got); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := Bind(reflect.TypeOf(target{}), []string{"id"}); err == nil {
		t.Error("binding with missing columns accepted")
	}
	row := make([]any, len(cols))
	note := "n"
	b.Encode(&target{ID: 3, Amount: decimal.NewFromInt(2), Note: &note, Small: 1}, row)
	// Encoded as the typed values rows carry: int64 and uint64.
	if row[1] != int64(3) || row[3] != uint64(1) || !row[0].(decimal.Decimal).Equal(decimal.NewFromInt(2)) || row[2] != "n" {
		t.Errorf("encoded %v", row)
	}
}
