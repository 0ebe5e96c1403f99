package schema

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

// binaryCollation is the collation id of binary strings (BINARY, VARBINARY,
// BLOB); every other collation marks a character column.
const binaryCollation = 63

// ErrNoColumnNames is returned for a table map event without column names:
// the upstream does not log binlog_row_metadata=FULL, so binflow cannot tell
// which value belongs to which column without guessing.
var ErrNoColumnNames = fmt.Errorf("table map event has no column names: set binlog_row_metadata=FULL on the upstream " +
	"(MariaDB >= 10.5, MySQL >= 8.0.1); binlog written before that cannot be decoded safely, so start the flows after it")

// TableFromMap builds the schema of a table from a binlog table map event
// written with binlog_row_metadata=FULL, so that each event is read with the
// schema that was current when it was written.
func TableFromMap(tm *replication.TableMapEvent) (*Table, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) || len(tm.ColumnType) != int(tm.ColumnCount) || len(tm.ColumnMeta) != int(tm.ColumnCount) {
		return nil, fmt.Errorf("table %s.%s: %w", tm.Schema, tm.Table, ErrNoColumnNames)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enumSetCollations := tm.EnumSetCollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	cols := make([]Column, tm.ColumnCount)
	for i := range cols {
		coll, character := collations[i]
		if esColl, ok := enumSetCollations[i]; ok {
			coll = esColl
		}
		cols[i] = mapColumn(names[i], tm.ColumnType[i], tm.ColumnMeta[i], unsigned[i], coll, character, enums[i], sets[i])
	}
	pk := make([]int, len(tm.PrimaryKey))
	for i, p := range tm.PrimaryKey {
		pk[i] = int(p)
	}
	return NewTable(string(tm.Schema), string(tm.Table), cols, pk), nil
}

// mapColumn builds a column from what a table map says of it: its type
// byte and metadata, signedness, collation (character says it is one of the
// text and binary string columns), and ENUM or SET values.
func mapColumn(name string, rawType byte, rawMeta uint16, unsigned bool, coll uint64, character bool, enum, set []string) Column {
	typ, meta := realType(rawType, rawMeta)
	c := Column{Name: name, Type: typ, RawType: rawType, Unsigned: unsigned}
	switch typ {
	case mysql.MYSQL_TYPE_STRING:
		c.Length = stringLength(meta)
	case mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		c.Decimals = int(min(meta, 6))
	}
	if coll != 0 {
		c.Collation, c.Charset = coll, CharsetOf(coll)
		c.conv = convFor(c.Charset)
		c.Character = character && coll != binaryCollation
	}
	var err error
	if c.Enum, err = c.convertAll(enum); err == nil {
		c.Set, err = c.convertAll(set)
	}
	if err != nil {
		c.bad = fmt.Errorf("ENUM/SET values: %w", err)
	}
	return c
}

// realType resolves the types that the table map stores inside metadata
// (ENUM and SET are logged as STRING with the real type in the metadata),
// returning the type and its metadata, as go-mysql reads them.
func realType(t byte, meta uint16) (byte, uint16) {
	if t == mysql.MYSQL_TYPE_STRING && meta >= 256 {
		if b0 := byte(meta >> 8); b0 == mysql.MYSQL_TYPE_ENUM || b0 == mysql.MYSQL_TYPE_SET {
			return b0, meta
		}
	}
	return t, meta
}

// stringLength is the byte length of a CHAR/BINARY column from its table
// map metadata: lengths above 255 borrow two bits of the type byte.
func stringLength(meta uint16) int {
	if meta < 256 {
		return int(meta)
	}
	b0, b1 := byte(meta>>8), byte(meta)
	if b0&0x30 != 0x30 {
		return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return int(b1)
}

func (c *Column) convertAll(vals []string) ([]string, error) {
	if c.conv == nil || vals == nil {
		return vals, nil
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		s, _, err := c.conv.toUTF8(v)
		if err != nil {
			return vals, err
		}
		out[i] = s
	}
	return out, nil
}

// Decode converts one image as decoded by go-mysql (with UseDecimal and
// ParseTime) into binflow's typed values, in place.
//
// It runs for every row, so a value that already has its binflow type
// (BIGINT as int64, DECIMAL, VARCHAR, UTC DATETIME: most columns) is left
// in place rather than boxed again into a new interface, which allocates.
func (t *Table) Decode(vals []any) error {
	if len(vals) != len(t.Columns) {
		return fmt.Errorf("table %s: row has %d values, schema has %d columns", t.FullName(), len(vals), len(t.Columns))
	}
	for i, v := range vals {
		if v == nil {
			continue
		}
		tv, ok, err := t.Columns[i].decode(v)
		if err != nil {
			return fmt.Errorf("table %s column %s: %w", t.FullName(), t.Columns[i].Name, err)
		}
		if ok {
			vals[i] = tv
		}
	}
	return nil
}

// smallInts holds the int64 values -128..1023, boxed once: go-mysql decodes
// TINYINT..INT as int8..int32, and boxing their int64 form allocates for
// every value outside 0..255.
var smallInts = func() (b [1152]any) {
	for i := range b {
		b[i] = int64(i - 128)
	}
	return b
}()

// boxInt64 is any(v), without allocating for small values.
func boxInt64(v int64) any {
	if v >= -128 && v < 1024 {
		return smallInts[v+128]
	}
	return v
}

// zeroTime is time.Time{}, boxed once: the value of zero dates.
var zeroTime any = time.Time{}

// decode returns the binflow value of v and true, or false when v already
// is that value.
func (c *Column) decode(v any) (any, bool, error) {
	if c.bad != nil {
		return nil, false, c.bad
	}
	switch x := v.(type) {
	case int8:
		return boxInt64(int64(x)), true, nil
	case int16:
		return boxInt64(int64(x)), true, nil
	case int32:
		return boxInt64(int64(x)), true, nil
	case int64:
		switch c.Type {
		case mysql.MYSQL_TYPE_ENUM:
			s, err := c.enumString(x)
			return s, err == nil, err
		case mysql.MYSQL_TYPE_SET:
			return c.setString(x), true, nil
		case mysql.MYSQL_TYPE_BIT:
			// go-mysql reads BIT(n) into an int64: BIT(64) with the top
			// bit set would turn negative.
			return uint64(x), true, nil
		}
		return nil, false, nil
	case int: // YEAR
		return boxInt64(int64(x)), true, nil
	case uint8:
		return uint64(x), true, nil
	case uint16:
		return uint64(x), true, nil
	case uint32:
		return uint64(x), true, nil
	case uint64, float32, float64, decimal.Decimal:
		return nil, false, nil
	case string:
		return c.decodeString(x)
	case []byte:
		tv, err := c.decodeBytes(x)
		return tv, err == nil, err
	case time.Time:
		// Identical (==, not Equal) to its UTC form: already UTC, without
		// a monotonic reading, as go-mysql decodes DATETIME.
		if u := x.UTC(); u != x {
			return u, true, nil
		}
		return nil, false, nil
	case *replication.JsonDiff:
		return nil, false, fmt.Errorf("partial JSON update in the binlog: binflow needs whole values, set binlog_row_value_options='' on the upstream")
	}
	return nil, false, fmt.Errorf("unsupported decoded value of Go type %T for MySQL type %d", v, c.Type)
}

// decodeBytes handles what go-mysql hands over as []byte: TEXT and BLOB
// columns, and MariaDB's JSON (text in a BLOB).
func (c *Column) decodeBytes(x []byte) (any, error) {
	switch {
	case c.Type == mysql.MYSQL_TYPE_JSON:
		if len(x) == 0 {
			// MySQL reads an empty JSON value (left by IGNORE or a
			// non-strict NULL into NOT NULL) as the JSON null literal.
			return "null", nil
		}
		return string(x), nil
	case c.Character:
		s := string(x)
		if c.conv != nil {
			var err error
			if s, _, err = c.conv.toUTF8(s); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	// A copy (the event's buffer is not ours to keep), and an empty value
	// stays empty, not nil: nil is NULL.
	return bytes.Clone(x), nil
}

// decodeString handles what go-mysql hands over as a string: CHAR and
// VARCHAR (text or binary), dates, times, and MySQL's binary JSON.
func (c *Column) decodeString(s string) (any, bool, error) {
	switch c.Type {
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE,
		mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		// Dates go-mysql leaves as text: zero, partial or invalid dates,
		// and DATETIMEs before 1970.
		return civilValue(s), true, nil
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		if out, changed := padFraction(s, c.Decimals); changed {
			return out, true, nil
		}
		return nil, false, nil
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB:
		if c.Format != FormatNone { // INET6, UUID: see history.go
			out, err := c.formatFixed(s)
			return out, err == nil, err
		}
		if !c.Character {
			// BINARY / VARBINARY. The binlog drops the zero bytes that pad
			// BINARY(n); SELECT returns all n bytes.
			n := len(s)
			if c.Type == mysql.MYSQL_TYPE_STRING && c.Length > n {
				n = c.Length
			}
			b := make([]byte, n)
			copy(b, s)
			return b, true, nil
		}
		if c.conv != nil {
			out, changed, err := c.conv.toUTF8(s)
			if err != nil || !changed {
				return nil, false, err // boxing out would allocate for nothing
			}
			return out, true, nil
		}
	}
	return nil, false, nil
}

// civilValue reads "YYYY-MM-DD[ hh:mm:ss[.ffffff]]" as a UTC time.Time.
// The all-zero date is time.Time{} (what go-sql-driver/mysql returns with
// parseTime, and what it writes back as 0000-00-00); partial or invalid
// dates ("2024-00-10", "2024-02-30") have no time.Time and stay the string
// the server logged.
func civilValue(s string) any {
	t, zero, ok := parseCivil(s)
	switch {
	case zero:
		return zeroTime
	case ok:
		return t
	}
	return s
}

func parseCivil(s string) (t time.Time, zero, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return t, false, false
	}
	y, ok1 := atoiN(s[0:4])
	mo, ok2 := atoiN(s[5:7])
	d, ok3 := atoiN(s[8:10])
	var h, mi, sec, ns int
	ok4, ok5, ok6, ok7 := true, true, true, true
	if len(s) > 10 {
		if len(s) < 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
			return t, false, false
		}
		h, ok4 = atoiN(s[11:13])
		mi, ok5 = atoiN(s[14:16])
		sec, ok6 = atoiN(s[17:19])
		if len(s) > 19 {
			frac := s[20:]
			if s[19] != '.' || len(frac) == 0 || len(frac) > 9 {
				return t, false, false
			}
			ns, ok7 = atoiN(frac)
			for range 9 - len(frac) {
				ns *= 10
			}
		}
	}
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return t, false, false
	}
	if y == 0 && mo == 0 && d == 0 && h == 0 && mi == 0 && sec == 0 && ns == 0 {
		return t, true, true
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) || h > 23 || mi > 59 || sec > 59 {
		return t, false, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), false, true
}

// atoiN parses a run of ASCII digits.
func atoiN(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// padFraction writes a TIME value the way the server prints it, with as
// many fractional digits as the column has: go-mysql leaves out a zero
// fraction ("12:00:00" for a TIME(3) '12:00:00.000').
func padFraction(s string, decimals int) (string, bool) {
	if decimals == 0 {
		return s, false
	}
	have := 0
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		have = len(s) - dot - 1
	}
	if have >= decimals {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + 1 + decimals)
	b.WriteString(s)
	if have == 0 {
		b.WriteByte('.')
	}
	for range decimals - have {
		b.WriteByte('0')
	}
	return b.String(), true
}

func (c *Column) enumString(idx int64) (any, error) {
	if idx == 0 {
		return "", nil // the error value '' MySQL stores for invalid enum input
	}
	if idx < 0 || idx > int64(len(c.Enum)) {
		return nil, fmt.Errorf("enum index %d out of range (%d values)", idx, len(c.Enum))
	}
	return c.Enum[idx-1], nil
}

func (c *Column) setString(bits int64) string {
	var b strings.Builder
	for i, name := range c.Set {
		if i < 64 && bits&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}
