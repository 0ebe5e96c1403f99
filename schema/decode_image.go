package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

// ImageDecoder reads the row images of one table straight from the bytes of
// its rows events into binflow's typed values: the values go-mysql's own
// decoder followed by Table.Decode would give, without go-mysql's
// per-row costs (a signedness map rebuilt for every row, decimals parsed
// back from text, each value boxed twice).
//
// It covers the column types of most tables (integers, DECIMAL, FLOAT,
// DOUBLE, CHAR, VARCHAR, TEXT, BLOB, DATE, DATETIME, TIMESTAMP, YEAR);
// NewImageDecoder says when a table has another, and such tables are
// decoded through go-mysql.
type ImageDecoder struct {
	table *Table
	cols  []imageColumn
}

// imageColumn is how one column's values are laid out in a row image.
type imageColumn struct {
	typ      byte   // the type as go-mysql decodes it
	meta     uint16 // table map metadata
	length   int    // CHAR/BINARY: the length that sizes the length prefix
	unsigned bool
}

// NewImageDecoder plans the decoding of t's row images from the table map
// t was built from. ok is false when a column has a type it does not
// decode, and the table's rows must go through go-mysql.
func NewImageDecoder(t *Table, tm *replication.TableMapEvent) (d *ImageDecoder, ok bool) {
	if len(tm.ColumnType) != len(t.Columns) || len(tm.ColumnMeta) != len(t.Columns) {
		return nil, false
	}
	d = &ImageDecoder{table: t, cols: make([]imageColumn, len(t.Columns))}
	for i := range t.Columns {
		c := &t.Columns[i]
		// Columns with a text format (INET6, UUID) are left to Table.Decode.
		if c.bad != nil || c.Format != FormatNone {
			return nil, false
		}
		ic := imageColumn{typ: tm.ColumnType[i], meta: tm.ColumnMeta[i], unsigned: c.Unsigned}
		switch ic.typ {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
			mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_YEAR, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE,
			mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING,
			mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		case mysql.MYSQL_TYPE_BLOB:
			if ic.meta < 1 || ic.meta > 4 {
				return nil, false
			}
		case mysql.MYSQL_TYPE_STRING:
			// CHAR and BINARY only: ENUM and SET are logged as STRING too,
			// with their real type in the metadata.
			ic.length = int(ic.meta)
			if ic.meta >= 256 {
				b0, b1 := byte(ic.meta>>8), byte(ic.meta)
				if b0&0x30 != 0x30 {
					if b0|0x30 != mysql.MYSQL_TYPE_STRING {
						return nil, false
					}
					ic.length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				} else {
					if b0 != mysql.MYSQL_TYPE_STRING {
						return nil, false
					}
					ic.length = int(b1)
				}
			}
		default:
			return nil, false
		}
		d.cols[i] = ic
	}
	return d, true
}

// Table is the schema the decoder decodes for.
func (d *ImageDecoder) Table() *Table { return d.table }

// Decode reads one row image from data into row (len(row) must be the
// number of columns); bitmap marks the columns the image holds, the others
// are left nil, as go-mysql leaves them. It returns the bytes read.
func (d *ImageDecoder) Decode(data, bitmap []byte, row []any) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("table %s: row image truncated or malformed: %v", d.table.FullName(), r)
		}
	}()
	present := bitmapCount(bitmap, len(d.cols))
	nullBytes := (present + 7) / 8
	nulls := data[:nullBytes]
	pos := nullBytes
	nullIdx := 0
	for i := range d.cols {
		if bitmap[i>>3]&(1<<(uint(i)&7)) == 0 {
			row[i] = nil
			continue
		}
		isNull := nulls[nullIdx>>3]&(1<<(uint(nullIdx)&7)) != 0
		nullIdx++
		if isNull {
			row[i] = nil
			continue
		}
		v, size, err := d.value(i, data[pos:])
		if err != nil {
			return 0, fmt.Errorf("table %s column %s: %w", d.table.FullName(), d.table.Columns[i].Name, err)
		}
		row[i] = v
		pos += size
	}
	return pos, nil
}

// value decodes column i's value at the start of data and says how many
// bytes it took.
func (d *ImageDecoder) value(i int, data []byte) (any, int, error) {
	ic := &d.cols[i]
	c := &d.table.Columns[i]
	switch ic.typ {
	case mysql.MYSQL_TYPE_TINY:
		if ic.unsigned {
			return uint64(data[0]), 1, nil
		}
		return boxInt64(int64(int8(data[0]))), 1, nil
	case mysql.MYSQL_TYPE_SHORT:
		u := binary.LittleEndian.Uint16(data)
		if ic.unsigned {
			return uint64(u), 2, nil
		}
		return boxInt64(int64(int16(u))), 2, nil
	case mysql.MYSQL_TYPE_INT24:
		u := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		if ic.unsigned {
			return uint64(u), 3, nil
		}
		if u&0x00800000 != 0 {
			u |= 0xFF000000
		}
		return boxInt64(int64(int32(u))), 3, nil
	case mysql.MYSQL_TYPE_LONG:
		u := binary.LittleEndian.Uint32(data)
		if ic.unsigned {
			return uint64(u), 4, nil
		}
		return boxInt64(int64(int32(u))), 4, nil
	case mysql.MYSQL_TYPE_LONGLONG:
		u := binary.LittleEndian.Uint64(data)
		if ic.unsigned {
			return u, 8, nil
		}
		return boxInt64(int64(u)), 8, nil
	case mysql.MYSQL_TYPE_YEAR:
		y := int64(data[0])
		if y != 0 {
			y += 1900
		}
		return boxInt64(y), 1, nil
	case mysql.MYSQL_TYPE_FLOAT:
		return math.Float32frombits(binary.LittleEndian.Uint32(data)), 4, nil
	case mysql.MYSQL_TYPE_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(data)), 8, nil
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return decodeBinaryDecimal(data, int(ic.meta>>8), int(ic.meta&0xFF))
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		s, n := lengthPrefixed(data, int(ic.meta))
		v, err := c.stringValue(s)
		return v, n, err
	case mysql.MYSQL_TYPE_STRING:
		s, n := lengthPrefixed(data, ic.length)
		v, err := c.stringValue(s)
		return v, n, err
	case mysql.MYSQL_TYPE_BLOB:
		var length, n int
		switch ic.meta {
		case 1:
			length, n = int(data[0]), 1
		case 2:
			length, n = int(binary.LittleEndian.Uint16(data)), 2
		case 3:
			length, n = int(uint32(data[0])|uint32(data[1])<<8|uint32(data[2])<<16), 3
		default:
			length, n = int(binary.LittleEndian.Uint32(data)), 4
		}
		v, err := c.decodeBytes(data[n : n+length])
		return v, n + length, err
	case mysql.MYSQL_TYPE_DATE:
		u := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		return dateValue(u), 3, nil
	case mysql.MYSQL_TYPE_DATETIME2:
		return c.datetime2Value(data, ic.meta)
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return c.timestamp2Value(data, ic.meta)
	}
	return nil, 0, fmt.Errorf("column type %d has no image decoder", ic.typ)
}

// lengthPrefixed reads a CHAR/VARCHAR value: a one-byte length when the
// column holds fewer than 256 bytes, else two. The string shares data's
// memory, as go-mysql's does: a rows event's buffer is never reused.
func lengthPrefixed(data []byte, maxLen int) (string, int) {
	length, n := int(data[0]), 1
	if maxLen >= 256 {
		length, n = int(binary.LittleEndian.Uint16(data)), 2
	}
	b := data[n : n+length]
	if length == 0 {
		return "", n
	}
	return unsafe.String(&b[0], length), n + length
}

// stringValue is the binflow value of a CHAR/VARCHAR value, boxed once.
func (c *Column) stringValue(s string) (any, error) {
	v, changed, err := c.decodeString(s)
	if err != nil || changed {
		return v, err
	}
	return s, nil
}

// dateValue is a DATE's value as go-mysql's text for it, read by civilValue,
// would give: time.Time for valid dates, time.Time{} for the zero date,
// the text for partial or invalid ones.
func dateValue(u uint32) any {
	if u == 0 {
		return zeroTime
	}
	y, m, d := int(u/(16*32)), int(u/32%16), int(u%32)
	if y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(time.Month(m), y) {
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	}
	return civilValue(fmt.Sprintf("%04d-%02d-%02d", y, m, d))
}

// datetimeIntOffset is DATETIMEF_INT_OFS: DATETIME2 stores its integer
// part offset by it, so that the sign bit is always set.
const datetimeIntOffset = 0x8000000000

// firstDatetime2 is 1970-01-01 00:00:00 as DATETIME2's integer part:
// go-mysql hands earlier values over as text.
const firstDatetime2 = 107420450816

// fraction reads the fractional seconds of a TIME2/DATETIME2/TIMESTAMP2
// (dec digits, stored big-endian in (dec+1)/2 bytes) as microseconds.
func fraction(data []byte, dec uint16) int64 {
	switch dec {
	case 1, 2:
		return int64(data[0]) * 10000
	case 3, 4:
		return int64(binary.BigEndian.Uint16(data)) * 100
	case 5, 6:
		return int64(uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2]))
	}
	return 0
}

func (c *Column) datetime2Value(data []byte, dec uint16) (any, int, error) {
	n := int(5 + (dec+1)/2)
	intPart := int64(uint64(data[0])<<32|uint64(binary.BigEndian.Uint32(data[1:5]))) - datetimeIntOffset
	frac := fraction(data[5:], dec)
	if intPart == 0 {
		v, _, err := c.decodeString(zeroTimeText(frac, int(dec)))
		return v, n, err
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd, hms := ymdhms>>17, ymdhms%(1<<17)
	ym := ymd >> 5
	day, month, year := int(ymd%(1<<5)), int(ym%13), int(ym/13)
	second, minute, hour := int(hms%(1<<6)), int((hms>>6)%(1<<6)), int(hms>>12)
	if intPart < firstDatetime2 || month == 0 || day == 0 {
		v, _, err := c.decodeString(datetimeText(year, month, day, hour, minute, second, int(frac), int(dec)))
		return v, n, err
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, int(frac*1000), time.UTC), n, nil
}

func (c *Column) timestamp2Value(data []byte, dec uint16) (any, int, error) {
	n := int(4 + (dec+1)/2)
	sec := int64(binary.BigEndian.Uint32(data))
	usec := fraction(data[4:], dec)
	if sec == 0 {
		v, _, err := c.decodeString(zeroTimeText(usec, int(dec)))
		return v, n, err
	}
	return time.Unix(sec, usec*1000).UTC(), n, nil
}

// zeroTimeText and datetimeText are go-mysql's text for the dates it does
// not parse, which decodeString then reads like any text date.
func zeroTimeText(frac int64, dec int) string {
	if dec == 0 {
		return "0000-00-00 00:00:00"
	}
	s := fmt.Sprintf("0000-00-00 00:00:00.%06d", frac)
	return s[:len(s)-(6-dec)]
}

func datetimeText(year, month, day, hour, minute, second, frac, dec int) string {
	if dec == 0 {
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, minute, second)
	}
	s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", year, month, day, hour, minute, second, frac)
	return s[:len(s)-(6-dec)]
}

// decimalBytes is how many bytes hold 0..9 decimal digits of a DECIMAL.
var decimalBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

var pow10 = [10]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// decodeBinaryDecimal reads a DECIMAL(precision, scale) in MySQL's binary
// format: groups of 9 digits in 4 big-endian bytes, the leftover digits
// of each side in fewer bytes, the sign in the top bit of the first byte
// (negative values have every bit inverted). Values of up to 18 digits are
// built straight from their int64 coefficient; longer ones, and malformed
// groups, go through text exactly as go-mysql decodes them.
func decodeBinaryDecimal(data []byte, precision, scale int) (any, int, error) {
	integral := precision - scale
	fullInt, fullFrac := integral/9, scale/9
	partInt, partFrac := integral-fullInt*9, scale-fullFrac*9
	size := fullInt*4 + decimalBytes[partInt] + fullFrac*4 + decimalBytes[partFrac]
	if len(data) < size || size == 0 {
		return nil, 0, fmt.Errorf("DECIMAL(%d,%d): %d bytes, need %d", precision, scale, len(data), size)
	}
	if precision > 18 {
		return decimalFromText(data[:size], precision, scale, size)
	}
	var mask uint32
	negative := data[0]&0x80 == 0
	if negative {
		mask = math.MaxUint32
	}
	// group reads n bytes big-endian, the sign bit cleared.
	pos := 0
	group := func(n int) uint32 {
		var v uint32
		for k := 0; k < n; k++ {
			b := data[pos+k]
			if pos+k == 0 {
				b ^= 0x80
			}
			v = v<<8 | uint32(b)
		}
		pos += n
		return (v ^ mask) & (math.MaxUint32 >> (32 - 8*n))
	}
	var coef int64
	add := func(v uint32, digits int) bool {
		if int64(v) >= pow10[digits] {
			return false
		}
		coef = coef*pow10[digits] + int64(v)
		return true
	}
	ok := add(group(decimalBytes[partInt]), partInt)
	for range fullInt {
		ok = ok && add(group(4), 9)
	}
	for range fullFrac {
		ok = ok && add(group(4), 9)
	}
	ok = ok && add(group(decimalBytes[partFrac]), partFrac)
	if !ok {
		return decimalFromText(data[:size], precision, scale, size)
	}
	if negative {
		coef = -coef
	}
	return decimal.New(coef, -int32(scale)), size, nil
}

// decimalFromText is go-mysql's decoding of a binary DECIMAL: its text,
// parsed.
func decimalFromText(raw []byte, precision, scale, size int) (any, int, error) {
	data := make([]byte, len(raw))
	copy(data, raw)
	integral := precision - scale
	fullInt, fullFrac := integral/9, scale/9
	partInt, partFrac := integral-fullInt*9, scale-fullFrac*9
	var res strings.Builder
	var mask uint32
	if data[0]&0x80 == 0 {
		mask = math.MaxUint32
		res.WriteString("-")
	}
	data[0] ^= 0x80
	part := func(n int, at []byte) uint32 {
		var v uint32
		for k := 0; k < decimalBytes[n]; k++ {
			v = v<<8 | uint32(at[k]^uint8(mask))
		}
		return v
	}
	// A full group holds 9 digits; go-mysql fails on one that holds more.
	malformed := false
	pad := func(s string, width int) {
		malformed = malformed || (width == 9 && len(s) > 9)
		for range width - len(s) {
			res.WriteByte('0')
		}
		res.WriteString(s)
	}
	leading := true
	pos := decimalBytes[partInt]
	if v := part(partInt, data); v != 0 {
		leading = false
		res.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	for range fullInt {
		v := binary.BigEndian.Uint32(data[pos:]) ^ mask
		pos += 4
		switch {
		case !leading:
			pad(strconv.FormatUint(uint64(v), 10), 9)
		case v != 0:
			leading = false
			res.WriteString(strconv.FormatUint(uint64(v), 10))
		}
	}
	if leading {
		res.WriteString("0")
	}
	if pos < len(data) {
		res.WriteString(".")
		for range fullFrac {
			v := binary.BigEndian.Uint32(data[pos:]) ^ mask
			pos += 4
			pad(strconv.FormatUint(uint64(v), 10), 9)
		}
		if decimalBytes[partFrac] > 0 {
			pad(strconv.FormatUint(uint64(part(partFrac, data[pos:])), 10), partFrac)
		}
	}
	if malformed {
		return nil, 0, fmt.Errorf("DECIMAL(%d,%d): a 9-digit group holds a larger value", precision, scale)
	}
	d, err := decimal.NewFromString(res.String())
	if err != nil {
		return nil, 0, fmt.Errorf("DECIMAL(%d,%d): %w", precision, scale, err)
	}
	return d, size, nil
}

// bitmapCount is how many of the first n bits of bitmap are set.
func bitmapCount(bitmap []byte, n int) int {
	count := 0
	for i := 0; i+8 <= n; i += 8 {
		count += bits.OnesCount8(bitmap[i>>3])
	}
	if r := n % 8; r != 0 {
		count += bits.OnesCount8(bitmap[n>>3] & (1<<r - 1))
	}
	return count
}
