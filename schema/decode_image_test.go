package schema

import (
	"encoding/binary"
	"math"
	"math/rand"
	"reflect"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema/binlogtest"
)

// imageColumns are a table of every column type ImageDecoder handles, with
// a generator of raw values for each (random bytes, and valid encodings).
var imageColumns = []struct {
	col binlogtest.Column
	gen func(r *rand.Rand) []byte
}{
	{binlogtest.Column{Name: "ti", Type: mysql.MYSQL_TYPE_TINY}, fixed(1)},
	{binlogtest.Column{Name: "tu", Type: mysql.MYSQL_TYPE_TINY, Unsigned: true}, fixed(1)},
	{binlogtest.Column{Name: "si", Type: mysql.MYSQL_TYPE_SHORT}, fixed(2)},
	{binlogtest.Column{Name: "su", Type: mysql.MYSQL_TYPE_SHORT, Unsigned: true}, fixed(2)},
	{binlogtest.Column{Name: "mi", Type: mysql.MYSQL_TYPE_INT24}, fixed(3)},
	{binlogtest.Column{Name: "mu", Type: mysql.MYSQL_TYPE_INT24, Unsigned: true}, fixed(3)},
	{binlogtest.Column{Name: "ii", Type: mysql.MYSQL_TYPE_LONG}, fixed(4)},
	{binlogtest.Column{Name: "iu", Type: mysql.MYSQL_TYPE_LONG, Unsigned: true}, fixed(4)},
	{binlogtest.Column{Name: "bi", Type: mysql.MYSQL_TYPE_LONGLONG}, fixed(8)},
	{binlogtest.Column{Name: "bu", Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, fixed(8)},
	{binlogtest.Column{Name: "y", Type: mysql.MYSQL_TYPE_YEAR}, fixed(1)},
	{binlogtest.Column{Name: "f", Type: mysql.MYSQL_TYPE_FLOAT, Meta: []byte{4}}, fixed(4)},
	{binlogtest.Column{Name: "d", Type: mysql.MYSQL_TYPE_DOUBLE, Meta: []byte{8}}, fixed(8)},
	{binlogtest.Column{Name: "dec10_2", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: []byte{10, 2}}, decimalValue(10, 2)},
	{binlogtest.Column{Name: "dec18_4", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: []byte{18, 4}}, decimalValue(18, 4)},
	{binlogtest.Column{Name: "dec18_18", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: []byte{18, 18}}, decimalValue(18, 18)},
	{binlogtest.Column{Name: "dec5_0", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: []byte{5, 0}}, decimalValue(5, 0)},
	{binlogtest.Column{Name: "dec30_10", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: []byte{30, 10}}, decimalValue(30, 10)},
	{binlogtest.Column{Name: "vc", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{80, 0}, Collation: 45}, prefixed(1, 80)},
	{binlogtest.Column{Name: "vc_long", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{0xb0, 0x04}, Collation: 45}, prefixed(2, 300)},
	{binlogtest.Column{Name: "vc_latin1", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{20, 0}, Collation: 8}, prefixed(1, 20)},
	{binlogtest.Column{Name: "vbin", Type: mysql.MYSQL_TYPE_VARCHAR, Meta: []byte{20, 0}, Collation: 63}, prefixed(1, 20)},
	{binlogtest.Column{Name: "ch", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_STRING, 40}, Collation: 45}, prefixed(1, 40)},
	{binlogtest.Column{Name: "bin4", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_STRING, 4}, Collation: 63}, prefixed(1, 4)},
	{binlogtest.Column{Name: "txt", Type: mysql.MYSQL_TYPE_BLOB, Meta: []byte{2}, Collation: 45}, prefixed(2, 100)},
	{binlogtest.Column{Name: "blb", Type: mysql.MYSQL_TYPE_BLOB, Meta: []byte{1}, Collation: 63}, prefixed(1, 100)},
	{binlogtest.Column{Name: "dt", Type: mysql.MYSQL_TYPE_DATE}, dateValue3},
	{binlogtest.Column{Name: "dt0", Type: mysql.MYSQL_TYPE_DATETIME2, Meta: []byte{0}}, datetime2Value(0)},
	{binlogtest.Column{Name: "dt3", Type: mysql.MYSQL_TYPE_DATETIME2, Meta: []byte{3}}, datetime2Value(3)},
	{binlogtest.Column{Name: "dt6", Type: mysql.MYSQL_TYPE_DATETIME2, Meta: []byte{6}}, datetime2Value(6)},
	{binlogtest.Column{Name: "ts0", Type: mysql.MYSQL_TYPE_TIMESTAMP2, Meta: []byte{0}}, fixed(4)},
	{binlogtest.Column{Name: "ts6", Type: mysql.MYSQL_TYPE_TIMESTAMP2, Meta: []byte{6}}, fixed(7)},
}

func fixed(n int) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		b := make([]byte, n)
		r.Read(b)
		if r.Intn(4) == 0 { // small values, where boxing is cached
			for i := 1; i < n; i++ {
				b[i] = 0
			}
		}
		return b
	}
}

// prefixed is a length-prefixed value of up to max bytes.
func prefixed(lenBytes, max int) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		n := r.Intn(max + 1)
		b := make([]byte, lenBytes, lenBytes+n)
		b[0] = byte(n)
		if lenBytes == 2 {
			binary.LittleEndian.PutUint16(b, uint16(n))
		}
		v := make([]byte, n)
		if r.Intn(2) == 0 {
			for i := range v {
				v[i] = byte('a' + r.Intn(26))
			}
		} else {
			r.Read(v)
		}
		return append(b, v...)
	}
}

// decimalValue encodes a valid DECIMAL(prec, scale) three times in four,
// random bytes of the right size otherwise.
func decimalValue(prec, scale int) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		integral := prec - scale
		var b []byte
		group := func(digits int) {
			n := decimalBytes[digits]
			v := uint32(r.Int63n(pow10[digits]))
			if r.Intn(3) == 0 {
				v = 0
			}
			for k := n - 1; k >= 0; k-- {
				b = append(b, byte(v>>(8*k)))
			}
		}
		group(integral % 9)
		for range integral / 9 {
			group(9)
		}
		for range scale / 9 {
			group(9)
		}
		group(scale % 9)
		if r.Intn(4) == 0 {
			r.Read(b)
			return b
		}
		if r.Intn(2) == 0 {
			for i := range b {
				b[i] = ^b[i]
			}
		}
		b[0] ^= 0x80
		return b
	}
}

func dateValue3(r *rand.Rand) []byte {
	u := uint32(r.Intn(1<<24)) & 0xffffff
	switch r.Intn(3) {
	case 0:
		u = uint32(r.Intn(10000))<<9 | uint32(1+r.Intn(12))<<5 | uint32(1+r.Intn(31))
	case 1:
		u = 0
	}
	return []byte{byte(u), byte(u >> 8), byte(u >> 16)}
}

func datetime2Value(dec int) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		n := 5 + (dec+1)/2
		b := make([]byte, n)
		r.Read(b)
		if r.Intn(2) == 0 {
			ym := int64(r.Intn(10000)*13 + r.Intn(13))
			ymd := ym<<5 | int64(r.Intn(32))
			hms := int64(r.Intn(24))<<12 | int64(r.Intn(60))<<6 | int64(r.Intn(60))
			v := uint64(ymd<<17|hms) + datetimeIntOffset
			for k := 0; k < 5; k++ {
				b[k] = byte(v >> (8 * (4 - k)))
			}
		}
		if r.Intn(8) == 0 {
			copy(b, []byte{0x80, 0, 0, 0, 0}) // the zero date
		}
		return b
	}
}

// TestImageDecoderMatchesGoMySQL: for random rows of every handled type,
// ImageDecoder gives exactly what go-mysql's decoder and Table.Decode give.
func TestImageDecoderMatchesGoMySQL(t *testing.T) {
	cols := make([]binlogtest.Column, len(imageColumns))
	for i, c := range imageColumns {
		cols[i] = c.col
	}
	tbl := &binlogtest.Table{ID: 42, Schema: "s", Name: "t", Columns: cols}
	r := rand.New(rand.NewSource(1))
	for iter := range 300 {
		rows := make([][][]byte, 1+r.Intn(8))
		for i := range rows {
			row := make([][]byte, len(cols))
			for j, c := range imageColumns {
				if r.Intn(10) > 0 {
					row[j] = c.gen(r)
				}
			}
			rows[i] = row
		}
		update := iter%3 == 0
		if update && len(rows)%2 == 1 {
			rows = rows[:len(rows)-1]
		}
		compareImageDecoding(t, tbl, update, rows)
	}
}

func compareImageDecoding(t *testing.T, tbl *binlogtest.Table, update bool, rows [][][]byte) {
	t.Helper()
	typ := replication.WRITE_ROWS_EVENTv2
	if update {
		typ = replication.UPDATE_ROWS_EVENTv2
	}
	body := tbl.RowsBody(update, rows...)

	// The reference: go-mysql's decoder, then Table.Decode.
	ref, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	tmEv, err := ref.Parse(replication.TABLE_MAP_EVENT, tbl.MapBody())
	if err != nil {
		t.Fatal(err)
	}
	tm := tmEv.Event.(*replication.TableMapEvent)
	schemaTable, err := TableFromMap(tm)
	if err != nil {
		t.Fatal(err)
	}
	want, refErr := func() ([][]any, error) {
		ev, err := ref.Parse(typ, body)
		if err != nil {
			return nil, err
		}
		got := ev.Event.(*replication.RowsEvent).Rows
		for _, row := range got {
			if err := schemaTable.Decode(row); err != nil {
				return nil, err
			}
		}
		return got, nil
	}()

	// ImageDecoder on the same body.
	fast, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	var pos int
	fast.SetRowsEventDecodeFunc(func(e *replication.RowsEvent, b []byte) error {
		var err error
		pos, err = e.DecodeHeader(b)
		data = b
		return err
	})
	if _, err := fast.Parse(replication.TABLE_MAP_EVENT, tbl.MapBody()); err != nil {
		t.Fatal(err)
	}
	ev, err := fast.Parse(typ, body)
	if err != nil {
		t.Fatal(err)
	}
	e := ev.Event.(*replication.RowsEvent)
	dec, ok := NewImageDecoder(schemaTable, tm)
	if !ok {
		t.Fatal("NewImageDecoder refused a table of handled types")
	}
	var got [][]any
	var fastErr error
	rest := data[pos:]
	for len(rest) > 0 && fastErr == nil {
		bitmap := e.ColumnBitmap1
		if update && len(got)%2 == 1 {
			bitmap = e.ColumnBitmap2
		}
		row := make([]any, len(schemaTable.Columns))
		var n int
		n, fastErr = dec.Decode(rest, bitmap, row)
		rest = rest[n:]
		got = append(got, row)
	}
	if (refErr != nil) != (fastErr != nil) {
		t.Fatalf("errors differ: go-mysql %v, image decoder %v", refErr, fastErr)
	}
	if refErr != nil {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%d images, want %d", len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if !sameValue(got[i][j], want[i][j]) {
				t.Fatalf("row %d column %s: got %#v (%T), want %#v (%T)", i, schemaTable.Columns[j].Name, got[i][j], got[i][j], want[i][j], want[i][j])
			}
		}
	}
}

// sameValue is reflect.DeepEqual, except that decimals compare by value
// and exponent (their big.Int may differ in representation only) and
// floats by their bits (NaN).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y) && x.Exponent() == y.Exponent()
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	return reflect.DeepEqual(a, b)
}

// TestImageDecoderRefusesOtherTypes: tables with a column type it does not
// decode (here ENUM and TIME) are left to go-mysql.
func TestImageDecoderRefusesOtherTypes(t *testing.T) {
	for _, c := range []binlogtest.Column{
		{Name: "e", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_ENUM, 1}, Collation: 45, Values: []string{"a", "b"}},
		{Name: "tm", Type: mysql.MYSQL_TYPE_TIME2, Meta: []byte{0}},
		{Name: "j", Type: mysql.MYSQL_TYPE_JSON, Meta: []byte{4}},
	} {
		tbl := &binlogtest.Table{ID: 7, Schema: "s", Name: "t", Columns: []binlogtest.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONG}, c}}
		p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := p.Parse(replication.TABLE_MAP_EVENT, tbl.MapBody())
		if err != nil {
			t.Fatal(err)
		}
		tm := ev.Event.(*replication.TableMapEvent)
		st, err := TableFromMap(tm)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := NewImageDecoder(st, tm); ok {
			t.Errorf("column %s: NewImageDecoder accepted it", c.Name)
		}
	}
}

// imageRows parses the recorded orders (real MariaDB bytes) with only the
// rows event's header decoded, and returns what ImageDecoder reads: the
// body, where its first image starts, and the column bitmap.
func imageRows(tb testing.TB) (dec *ImageDecoder, body []byte, pos int, bitmap []byte, n int) {
	r := loadRecordedOrders(tb)
	p := r.parser // it has read the format description
	p.SetRowsEventDecodeFunc(func(e *replication.RowsEvent, b []byte) error {
		var err error
		pos, err = e.DecodeHeader(b)
		body, bitmap = b, e.ColumnBitmap1
		return err
	})
	tmEv, err := p.Parse(r.tmap)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.Parse(r.rows); err != nil {
		tb.Fatal(err)
	}
	dec, ok := NewImageDecoder(r.table, tmEv.Event.(*replication.TableMapEvent))
	if !ok {
		tb.Fatal("NewImageDecoder refused the orders table")
	}
	return dec, body, pos, bitmap, r.n
}

// TestImageDecoderRecordedOrders: on rows MariaDB wrote, ImageDecoder
// reads what go-mysql and Table.Decode read.
func TestImageDecoderRecordedOrders(t *testing.T) {
	dec, body, pos, bitmap, _ := imageRows(t)
	var want [][]any
	loadRecordedOrders(t).decode(t, func(row []any) { want = append(want, row) })
	data := body[pos:]
	for i := 0; len(data) > 0; i++ {
		row := make([]any, len(dec.Table().Columns))
		n, err := dec.Decode(data, bitmap, row)
		if err != nil {
			t.Fatal(err)
		}
		data = data[n:]
		for j := range row {
			if !sameValue(row[j], want[i][j]) {
				t.Fatalf("row %d column %d: got %#v, want %#v", i, j, row[j], want[i][j])
			}
		}
	}
}

// BenchmarkImageDecoder: the recorded rows event of 100 orders read by
// ImageDecoder, what the binlog reader does per rows event (compare
// BenchmarkDecodeRowsEvent/typed: go-mysql's decoder, then Table.Decode).
func BenchmarkImageDecoder(b *testing.B) {
	dec, body, pos, bitmap, n := imageRows(b)
	row := make([]any, len(dec.Table().Columns))
	decodeAll := func() {
		data := body[pos:]
		for len(data) > 0 {
			k, err := dec.Decode(data, bitmap, row)
			if err != nil {
				b.Fatal(err)
			}
			data = data[k:]
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		decodeAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	b.ReportMetric(testing.AllocsPerRun(100, decodeAll)/float64(n), "allocs/row")
}

// A BINARY(16) column the schema history knows as INET6 or UUID is printed
// as text by Table.Decode: the image decoder leaves such tables to it.
func TestImageDecoderLeavesTextFormatsToDecode(t *testing.T) {
	for _, format := range []Format{FormatInet6, FormatUUID} {
		tbl := &binlogtest.Table{ID: 7, Schema: "s", Name: "t", Columns: []binlogtest.Column{
			{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
			{Name: "addr", Type: mysql.MYSQL_TYPE_STRING, Meta: []byte{mysql.MYSQL_TYPE_STRING, 16}, Collation: 63}}}
		p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := p.Parse(replication.TABLE_MAP_EVENT, tbl.MapBody())
		if err != nil {
			t.Fatal(err)
		}
		tm := ev.Event.(*replication.TableMapEvent)
		st, err := TableFromMap(tm)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := NewImageDecoder(st, tm); !ok {
			t.Fatalf("a plain BINARY(16) table is not image-decoded; the test proves nothing")
		}
		st.Columns[1].Format = format
		if _, ok := NewImageDecoder(st, tm); ok {
			t.Errorf("format %v: NewImageDecoder accepted the column", format)
		}
	}
}
