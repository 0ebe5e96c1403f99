package schema

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

// TestDecodeEveryType: each column type, as go-mysql hands its values over
// (ParseTime, UseDecimal), decodes to the documented Go value, which is
// the value SELECT returns through go-sql-driver/mysql (parseTime, UTC).
func TestDecodeEveryType(t *testing.T) {
	latin1 := Column{Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "latin1"}
	latin1Text := Column{Type: mysql.MYSQL_TYPE_BLOB, Character: true, Charset: "latin1"}
	cases := []struct {
		name string
		col  Column
		in   any
		want any
	}{
		{"TINYINT min", Column{Type: mysql.MYSQL_TYPE_TINY}, int8(math.MinInt8), int64(math.MinInt8)},
		{"TINYINT UNSIGNED max", Column{Type: mysql.MYSQL_TYPE_TINY, Unsigned: true}, uint8(math.MaxUint8), uint64(math.MaxUint8)},
		{"MEDIUMINT min", Column{Type: mysql.MYSQL_TYPE_INT24}, int32(-8388608), int64(-8388608)},
		{"MEDIUMINT UNSIGNED max", Column{Type: mysql.MYSQL_TYPE_INT24, Unsigned: true}, uint32(16777215), uint64(16777215)},
		{"BIGINT min", Column{Type: mysql.MYSQL_TYPE_LONGLONG}, int64(math.MinInt64), int64(math.MinInt64)},
		{"BIGINT UNSIGNED max", Column{Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"BOOL", Column{Type: mysql.MYSQL_TYPE_TINY}, int8(1), int64(1)},
		{"BIT(64) all ones", Column{Type: mysql.MYSQL_TYPE_BIT}, int64(-1), uint64(math.MaxUint64)},
		{"BIT(1)", Column{Type: mysql.MYSQL_TYPE_BIT}, int64(1), uint64(1)},
		{"YEAR", Column{Type: mysql.MYSQL_TYPE_YEAR, Unsigned: true}, int(2155), int64(2155)},
		{"YEAR 0000", Column{Type: mysql.MYSQL_TYPE_YEAR, Unsigned: true}, int(0), int64(0)},
		{"DECIMAL(65,30)", Column{Type: mysql.MYSQL_TYPE_NEWDECIMAL},
			decimal.RequireFromString("-99999999999999999999999999999999999.999999999999999999999999999999"),
			decimal.RequireFromString("-99999999999999999999999999999999999.999999999999999999999999999999")},
		{"FLOAT", Column{Type: mysql.MYSQL_TYPE_FLOAT}, float32(math.MaxFloat32), float32(math.MaxFloat32)},
		{"DOUBLE", Column{Type: mysql.MYSQL_TYPE_DOUBLE}, -math.MaxFloat64, -math.MaxFloat64},
		{"VARCHAR utf8mb4 emoji", Column{Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "utf8mb4"}, "🎉 x", "🎉 x"},
		{"TEXT utf8mb4", Column{Type: mysql.MYSQL_TYPE_BLOB, Character: true, Charset: "utf8mb4"}, []byte("né"), "né"},
		{"VARCHAR latin1 café", latin1, "caf\xe9", "café"},
		{"VARCHAR latin1 euro and C1", latin1, "\x80\x81\x9d", "€\u0081\u009d"},
		{"VARCHAR latin1 ascii", latin1, "plain", "plain"},
		{"TEXT latin1", latin1Text, []byte("caf\xe9"), "café"},
		{"CHAR cp1251", Column{Type: mysql.MYSQL_TYPE_STRING, Character: true, Charset: "cp1251"}, "\xcf\xf0\xe8", "При"},
		{"CHAR ucs2", Column{Type: mysql.MYSQL_TYPE_STRING, Character: true, Charset: "ucs2"}, "\x00a\x00\xe9", "aé"},
		{"BINARY(4) restores zero padding", Column{Type: mysql.MYSQL_TYPE_STRING, Length: 4}, "a", []byte{'a', 0, 0, 0}},
		{"BINARY(4) keeps spaces", Column{Type: mysql.MYSQL_TYPE_STRING, Length: 4}, "    ", []byte("    ")},
		{"BINARY(4) empty", Column{Type: mysql.MYSQL_TYPE_STRING, Length: 4}, "", []byte{0, 0, 0, 0}},
		{"VARBINARY keeps its length", Column{Type: mysql.MYSQL_TYPE_VARCHAR, Length: 0}, "a\x00", []byte{'a', 0}},
		{"BLOB", Column{Type: mysql.MYSQL_TYPE_BLOB}, []byte{0, 0xff}, []byte{0, 0xff}},
		{"DATE", Column{Type: mysql.MYSQL_TYPE_DATE}, "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"DATE min", Column{Type: mysql.MYSQL_TYPE_DATE}, "1000-01-01", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"DATE zero", Column{Type: mysql.MYSQL_TYPE_DATE}, "0000-00-00", time.Time{}},
		{"DATE partial", Column{Type: mysql.MYSQL_TYPE_DATE}, "2024-00-10", "2024-00-10"},
		{"DATE invalid (ALLOW_INVALID_DATES)", Column{Type: mysql.MYSQL_TYPE_DATE}, "2023-02-29", "2023-02-29"},
		{"TIME(6) negative, > 24 h", Column{Type: mysql.MYSQL_TYPE_TIME2, Decimals: 6}, "-838:59:59", "-838:59:59.000000"},
		{"TIME(2) zero", Column{Type: mysql.MYSQL_TYPE_TIME2, Decimals: 2}, "00:00:00", "00:00:00.00"},
		{"TIME(3) fraction", Column{Type: mysql.MYSQL_TYPE_TIME2, Decimals: 3}, "-00:00:00.500", "-00:00:00.500"},
		{"TIME", Column{Type: mysql.MYSQL_TYPE_TIME2}, "100:00:00", "100:00:00"},
		{"DATETIME(6)", Column{Type: mysql.MYSQL_TYPE_DATETIME2, Decimals: 6},
			time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"DATETIME before 1970", Column{Type: mysql.MYSQL_TYPE_DATETIME2, Decimals: 6},
			"1000-01-01 00:00:00.500000", time.Date(1000, 1, 1, 0, 0, 0, 500000000, time.UTC)},
		{"DATETIME zero", Column{Type: mysql.MYSQL_TYPE_DATETIME2}, "0000-00-00 00:00:00", time.Time{}},
		{"DATETIME(3) zero", Column{Type: mysql.MYSQL_TYPE_DATETIME2, Decimals: 3}, "0000-00-00 00:00:00.000", time.Time{}},
		{"DATETIME(3) partial", Column{Type: mysql.MYSQL_TYPE_DATETIME2, Decimals: 3}, "2024-00-10 10:00:00.000", "2024-00-10 10:00:00.000"},
		{"TIMESTAMP(6) is the instant, in UTC", Column{Type: mysql.MYSQL_TYPE_TIMESTAMP2, Decimals: 6},
			time.Date(2038, 1, 19, 4, 14, 7, 999999000, time.FixedZone("CET", 3600)), time.Date(2038, 1, 19, 3, 14, 7, 999999000, time.UTC)},
		{"TIMESTAMP zero", Column{Type: mysql.MYSQL_TYPE_TIMESTAMP2}, "0000-00-00 00:00:00", time.Time{}},
		{"ENUM", Column{Type: mysql.MYSQL_TYPE_ENUM, Enum: []string{"a", "café"}}, int64(2), "café"},
		{"ENUM invalid value ''", Column{Type: mysql.MYSQL_TYPE_ENUM, Enum: []string{"a"}}, int64(0), ""},
		{"SET", Column{Type: mysql.MYSQL_TYPE_SET, Set: []string{"x", "y", "z"}}, int64(7), "x,y,z"},
		{"SET empty", Column{Type: mysql.MYSQL_TYPE_SET, Set: []string{"x"}}, int64(0), ""},
		{"JSON MariaDB (LONGTEXT)", Column{Type: mysql.MYSQL_TYPE_BLOB, Character: true, Charset: "utf8mb4"}, []byte(`{"a": [1]}`), `{"a": [1]}`},
		{"JSON MySQL (binary, decoded by go-mysql)", Column{Type: mysql.MYSQL_TYPE_JSON}, `{"a":[1]}`, `{"a":[1]}`},
		{"JSON MySQL empty value", Column{Type: mysql.MYSQL_TYPE_JSON}, []byte{}, "null"},
		{"GEOMETRY", Column{Type: mysql.MYSQL_TYPE_GEOMETRY}, []byte{0, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 1}},
		{"NULL", Column{Type: mysql.MYSQL_TYPE_LONG}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.col.Name = "c"
			tbl := NewTable("s", "t", []Column{c.col}, nil)
			row := []any{c.in}
			if err := tbl.Decode(row); err != nil {
				t.Fatal(err)
			}
			if d, ok := c.want.(decimal.Decimal); ok {
				if got, ok := row[0].(decimal.Decimal); !ok || !got.Equal(d) {
					t.Errorf("got %#v, want %s", row[0], d)
				}
				return
			}
			if !reflect.DeepEqual(row[0], c.want) {
				t.Errorf("got %T %#v, want %T %#v", row[0], row[0], c.want, c.want)
			}
			if tm, ok := row[0].(time.Time); ok && tm.Location() != time.UTC {
				t.Errorf("time in %s, want UTC", tm.Location())
			}
		})
	}
}

func TestDecodeErrorsNameTableAndColumn(t *testing.T) {
	cases := []struct {
		name string
		col  Column
		in   any
		want string
	}{
		{"enum out of range", Column{Type: mysql.MYSQL_TYPE_ENUM, Enum: []string{"a"}}, int64(3), "enum index 3"},
		{"swe7 has no converter", Column{Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "swe7"}, "abc", "swe7"},
		{"non-ASCII in a charset without converter", Column{Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "dec8"}, "\xe9", "dec8"},
		{"unknown charset, not UTF-8", Column{Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "klingon"}, "\xff", "klingon"},
		{"partial JSON update", Column{Type: mysql.MYSQL_TYPE_JSON}, &replication.JsonDiff{}, "binlog_row_value_options"},
		{"unexpected Go type", Column{Type: mysql.MYSQL_TYPE_LONG}, struct{}{}, "unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.col.Name = "col_x"
			err := NewTable("s", "t", []Column{c.col}, nil).Decode([]any{c.in})
			if err == nil {
				t.Fatal("decoded")
			}
			for _, want := range []string{"s.t", "col_x", c.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	// ASCII in a charset without a converter is the same text in UTF-8.
	row := []any{"abc"}
	if err := NewTable("s", "t", []Column{{Name: "c", Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "dec8"}}, nil).Decode(row); err != nil || row[0] != "abc" {
		t.Errorf("ASCII dec8: %v, %#v", err, row[0])
	}
}

// TestDecodeLatin1DoesNotAllocateForASCII: conversion costs only when there
// is something to convert.
func TestDecodeLatin1DoesNotAllocateForASCII(t *testing.T) {
	tbl := NewTable("s", "t", []Column{{Name: "c", Type: mysql.MYSQL_TYPE_VARCHAR, Character: true, Charset: "latin1"}}, nil)
	row := []any{"ascii only"}
	if n := testing.AllocsPerRun(100, func() {
		row[0] = "ascii only"
		if err := tbl.Decode(row); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestCharsetOf(t *testing.T) {
	cases := map[uint64]string{
		8: "latin1", 45: "utf8mb4", 46: "utf8mb4", 63: "binary", 33: "utf8mb3", 255: "utf8mb4", 309: "utf8mb4",
		248: "gb18030", 1032: "latin1", 1071: "latin1", 1069: "utf8mb4", 2048: "utf8mb3", 2304: "utf8mb4",
		2503: "utf8mb4", 3271: "utf32", 608: "utf8mb4", 17: "", 5000: "",
	}
	for id, want := range cases {
		if got := CharsetOf(id); got != want {
			t.Errorf("CharsetOf(%d) = %q, want %q", id, got, want)
		}
	}
}

func TestTimeDurations(t *testing.T) {
	cases := []struct {
		s    string
		d    time.Duration
		back string
	}{
		{"00:00:00", 0, "00:00:00"},
		{"-838:59:59.000000", -(838*time.Hour + 59*time.Minute + 59*time.Second), "-838:59:59"},
		{"100:00:00.5", 100*time.Hour + 500*time.Millisecond, "100:00:00.5"},
		{"-00:00:00.000001", -time.Microsecond, "-00:00:00.000001"},
	}
	for _, c := range cases {
		d, err := ParseTime(c.s)
		if err != nil || d != c.d {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.s, d, err, c.d)
		}
		if got := FormatTime(c.d); got != c.back {
			t.Errorf("FormatTime(%v) = %q, want %q", c.d, got, c.back)
		}
	}
	for _, bad := range []string{"", "1:2:3", "aa:bb:cc", "10:60:00", "10:00:00.", "--1:00:00"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

// TestDecodeEmptyIsNotNULL: an empty BLOB or string is a value, not nil.
func TestDecodeEmptyIsNotNULL(t *testing.T) {
	tbl := NewTable("s", "t", []Column{
		{Name: "blob", Type: mysql.MYSQL_TYPE_BLOB},
		{Name: "varbinary", Type: mysql.MYSQL_TYPE_VARCHAR},
		{Name: "text", Type: mysql.MYSQL_TYPE_BLOB, Character: true},
	}, nil)
	row := []any{[]byte{}, "", []byte{}}
	if err := tbl.Decode(row); err != nil {
		t.Fatal(err)
	}
	if b, ok := row[0].([]byte); !ok || b == nil {
		t.Errorf("empty BLOB decoded as %#v", row[0])
	}
	if b, ok := row[1].([]byte); !ok || b == nil {
		t.Errorf("empty VARBINARY decoded as %#v", row[1])
	}
	if row[2] != "" {
		t.Errorf("empty TEXT decoded as %#v", row[2])
	}
}
