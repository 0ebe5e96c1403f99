package schema

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema/binlogtest"
)

// fuzzValue builds one of the Go values go-mysql produces from fuzz bytes.
func fuzzValue(kind byte, data []byte) any {
	var n uint64
	if len(data) >= 8 {
		n = binary.LittleEndian.Uint64(data)
	}
	switch kind % 18 {
	case 0:
		return nil
	case 1:
		return int8(n)
	case 2:
		return int16(n)
	case 3:
		return int32(n)
	case 4:
		return int64(n)
	case 5:
		return int(n)
	case 6:
		return uint8(n)
	case 7:
		return uint16(n)
	case 8:
		return uint32(n)
	case 9:
		return n
	case 10:
		return math.Float32frombits(uint32(n))
	case 11:
		return math.Float64frombits(n)
	case 12:
		if d, err := decimal.NewFromString(string(data)); err == nil {
			return d
		}
		return decimal.New(int64(n), -int32(kind%40))
	case 13:
		return time.Unix(int64(n%(1<<40)), int64(n%1e9)).In(time.FixedZone("z", int(kind)*60))
	case 14:
		return &replication.JsonDiff{}
	case 15, 16:
		return string(data)
	}
	return data
}

// FuzzDecode: any column, as a table map describes it, with any value of a
// Go type go-mysql produces: Decode never panics, and what it returns is
// one of the documented Go types, UTC times, BINARY(n) n bytes long and
// converted text valid UTF-8.
func FuzzDecode(f *testing.F) {
	f.Add(byte(mysql.MYSQL_TYPE_STRING), uint16(0xfe04), false, uint16(63), byte(15), []byte("a"))
	f.Add(byte(mysql.MYSQL_TYPE_VARCHAR), uint16(40), false, uint16(8), byte(15), []byte("caf\xe9"))
	f.Add(byte(mysql.MYSQL_TYPE_BLOB), uint16(2), false, uint16(35), byte(17), []byte("\x00a\xd8\x00"))
	f.Add(byte(mysql.MYSQL_TYPE_STRING), uint16(0xf701), false, uint16(8), byte(4), []byte("\x02\x00\x00\x00\x00\x00\x00\x00"))
	f.Add(byte(mysql.MYSQL_TYPE_STRING), uint16(0xf801), false, uint16(45), byte(4), []byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add(byte(mysql.MYSQL_TYPE_TIME2), uint16(6), false, uint16(0), byte(15), []byte("-838:59:59"))
	f.Add(byte(mysql.MYSQL_TYPE_DATETIME2), uint16(3), false, uint16(0), byte(15), []byte("2024-00-10 10:00:00.000"))
	f.Add(byte(mysql.MYSQL_TYPE_DATE), uint16(0), false, uint16(0), byte(15), []byte("0000-00-00"))
	f.Add(byte(mysql.MYSQL_TYPE_TIMESTAMP2), uint16(6), false, uint16(0), byte(13), []byte("12345678"))
	f.Add(byte(mysql.MYSQL_TYPE_BIT), uint16(0x0800), false, uint16(0), byte(4), []byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add(byte(mysql.MYSQL_TYPE_JSON), uint16(4), false, uint16(63), byte(17), []byte{})
	f.Add(byte(mysql.MYSQL_TYPE_NEWDECIMAL), uint16(0x411e), false, uint16(0), byte(12), []byte("-1.5"))
	f.Add(byte(mysql.MYSQL_TYPE_LONGLONG), uint16(0), true, uint16(0), byte(9), []byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, typ byte, meta uint16, unsigned bool, coll uint16, kind byte, data []byte) {
		col := mapColumn("c", typ, meta, unsigned, uint64(coll), kind%2 == 0, []string{"a", "caf\xe9"}, []string{"x", "y"})
		tbl := NewTable("s", "t", []Column{col}, nil)
		in := fuzzValue(kind, data)
		row := []any{in}
		if err := tbl.Decode(row); err != nil {
			return
		}
		switch v := row[0].(type) {
		case nil, int64, uint64, float32, float64, decimal.Decimal:
		case string:
			if c := tbl.Columns[0]; c.Character && c.conv != nil && !c.conv.validate && !utf8.ValidString(v) {
				switch c.Type {
				case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB:
					t.Errorf("converted text is not UTF-8: %q from %q", v, in)
				}
			}
		case []byte:
			if c := tbl.Columns[0]; c.Type == mysql.MYSQL_TYPE_STRING && !c.Character {
				if s, ok := in.(string); ok && len(v) < c.Length && len(s) <= c.Length {
					t.Errorf("BINARY(%d) decoded to %d bytes", c.Length, len(v))
				}
			}
		case time.Time:
			if v.Location() != time.UTC {
				t.Errorf("time in %s", v.Location())
			}
		default:
			t.Errorf("decoded to undocumented %T", v)
		}
	})
}

// FuzzDecodeEvent: a table map and a rows event of one column of any type
// and metadata, with any bytes as its value, through go-mysql's parser and
// then TableFromMap and Decode. go-mysql may refuse (or, on some garbage,
// panic: in the reader it runs under go-mysql's own recover); binflow's
// part must not panic.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(byte(mysql.MYSQL_TYPE_STRING), []byte{0xfe, 4}, uint64(63), []byte("\x01a"))
	f.Add(byte(mysql.MYSQL_TYPE_VARCHAR), []byte{40, 0}, uint64(8), []byte("\x04caf\xe9"))
	f.Add(byte(mysql.MYSQL_TYPE_STRING), []byte{mysql.MYSQL_TYPE_ENUM, 1}, uint64(8), []byte{2})
	f.Add(byte(mysql.MYSQL_TYPE_TIME2), []byte{6}, uint64(0), []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(byte(mysql.MYSQL_TYPE_DATETIME2), []byte{0}, uint64(0), []byte{0x80, 0, 0, 0, 0})
	f.Add(byte(mysql.MYSQL_TYPE_BIT), []byte{0, 8}, uint64(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(byte(mysql.MYSQL_TYPE_NEWDECIMAL), []byte{65, 30}, uint64(0), make([]byte, 30))
	f.Add(byte(mysql.MYSQL_TYPE_JSON), []byte{4}, uint64(63), []byte("\x05\x00\x00\x00\x00\x00\x00\x04\x00"))
	f.Fuzz(func(t *testing.T, typ byte, meta []byte, coll uint64, value []byte) {
		col := binlogtest.Column{Name: "c", Type: typ, Meta: meta, Collation: coll % 4096}
		if col.Type == mysql.MYSQL_TYPE_STRING && len(meta) > 0 && (meta[0] == mysql.MYSQL_TYPE_ENUM || meta[0] == mysql.MYSQL_TYPE_SET) {
			col.Values = []string{"a", "caf\xe9"}
		}
		tbl := &binlogtest.Table{ID: 1, Schema: "s", Name: "t", Columns: []binlogtest.Column{col}}
		var vals [][]any
		func() {
			defer func() { _ = recover() }() // go-mysql's part
			p, err := binlogtest.NewParser(mysql.MySQLFlavor)
			if err != nil {
				t.Fatal(err)
			}
			tm, err := p.Parse(replication.TABLE_MAP_EVENT, tbl.MapBody())
			if err != nil {
				return
			}
			ev, err := p.Parse(replication.WRITE_ROWS_EVENTv2, tbl.RowsBody(false, [][]byte{value}))
			if err != nil {
				return
			}
			vals = append([][]any{{tm.Event}}, ev.Event.(*replication.RowsEvent).Rows...)
		}()
		if len(vals) < 2 {
			return
		}
		schemaTable, err := TableFromMap(vals[0][0].(*replication.TableMapEvent))
		if err != nil {
			return
		}
		for _, row := range vals[1:] {
			_ = schemaTable.Decode(row)
		}
	})
}

// FuzzStructBinding: any row of values of the documented types, decoded
// into a struct of every field kind: no panic; a field either takes the
// value or Decode fails naming it; what Decode accepts, Encode gives back.
func FuzzStructBinding(f *testing.F) {
	f.Add([]byte{4, 9, 15, 13, 0, 12}, []byte("12345678-1.5"))
	f.Add([]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, []byte("\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte{15, 15, 15, 15}, []byte("-838:59:59.5"))
	b, err := Bind(reflect.TypeFor[everything](), everythingColumns)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kinds []byte, data []byte) {
		row := make([]any, len(everythingColumns))
		for i := range row {
			if i < len(kinds) {
				k := kinds[i]
				if k%18 == 13 || k%18 == 14 { // time.Time of any zone is not a row value; JsonDiff never reaches rows
					k = 4
				}
				chunk := data
				if len(data) > 8 {
					chunk = data[(i*3)%len(data):]
				}
				v := fuzzValue(k, chunk)
				if tm, ok := v.(time.Time); ok {
					v = tm.UTC()
				}
				row[i] = v
			}
		}
		var s everything
		if err := b.Decode(row, &s); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Column == "" {
				t.Errorf("error without field and column: %v", err)
			}
			return
		}
		out := make([]any, len(everythingColumns))
		b.Encode(&s, out)
		var back everything
		if err := b.Decode(out, &back); err != nil {
			t.Fatalf("decoding what Encode gave: %v (row %#v)", err, out)
		}
	})
}
