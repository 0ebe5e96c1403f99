package schema

import (
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
var ErrNoColumnNames = fmt.Errorf("table map event has no column names: set binlog_row_metadata=FULL on the upstream (MariaDB >= 10.5, MySQL >= 8.0.1)")

// TableFromMap builds the schema of a table from a binlog table map event
// written with binlog_row_metadata=FULL, so that each event is read with the
// schema that was current when it was written.
func TableFromMap(tm *replication.TableMapEvent) (*Table, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, fmt.Errorf("table %s.%s: %w", tm.Schema, tm.Table, ErrNoColumnNames)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	cols := make([]Column, tm.ColumnCount)
	for i := range cols {
		c := Column{Name: names[i], Type: realType(tm, i), RawType: tm.ColumnType[i], Unsigned: unsigned[i], Enum: enums[i], Set: sets[i]}
		if coll, ok := collations[i]; ok {
			c.Character = coll != binaryCollation
		}
		cols[i] = c
	}
	pk := make([]int, len(tm.PrimaryKey))
	for i, p := range tm.PrimaryKey {
		pk[i] = int(p)
	}
	return NewTable(string(tm.Schema), string(tm.Table), cols, pk), nil
}

// realType resolves the types that the table map stores inside metadata
// (ENUM and SET are logged as STRING with the real type in the metadata).
func realType(tm *replication.TableMapEvent, i int) byte {
	t := tm.ColumnType[i]
	if t == mysql.MYSQL_TYPE_STRING {
		meta := tm.ColumnMeta[i]
		if meta >= 256 {
			if b0 := byte(meta >> 8); b0 == mysql.MYSQL_TYPE_ENUM || b0 == mysql.MYSQL_TYPE_SET {
				return b0
			}
		}
	}
	return t
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

// decode returns the binflow value of v and true, or false when v already
// is that value.
func (c *Column) decode(v any) (any, bool, error) {
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
		}
		return nil, false, nil
	case int:
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
		if c.Type == mysql.MYSQL_TYPE_DATE || c.Type == mysql.MYSQL_TYPE_NEWDATE {
			return parseDate(x), true, nil
		}
		if !c.Character && (c.Type == mysql.MYSQL_TYPE_STRING || c.Type == mysql.MYSQL_TYPE_VARCHAR || c.Type == mysql.MYSQL_TYPE_VAR_STRING) {
			return []byte(x), true, nil // BINARY / VARBINARY
		}
		return nil, false, nil
	case []byte:
		if c.Character || c.Type == mysql.MYSQL_TYPE_JSON {
			return string(x), true, nil
		}
		return append([]byte(nil), x...), true, nil
	case time.Time:
		// Identical (==, not Equal) to its UTC form: already UTC, without
		// a monotonic reading, as go-mysql decodes DATETIME.
		if u := x.UTC(); u != x {
			return u, true, nil
		}
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("unsupported decoded value of Go type %T for MySQL type %d", v, c.Type)
}

// parseDate turns "2006-01-02" into midnight UTC; zero or partial dates
// ("0000-00-00", "2024-00-10") have no time.Time and stay strings.
func parseDate(s string) any {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return d
}

func (c *Column) enumString(idx int64) (any, error) {
	if idx == 0 {
		return "", nil // the error value '' MySQL stores for invalid enum input
	}
	if int(idx) > len(c.Enum) {
		return nil, fmt.Errorf("enum index %d out of range (%d values)", idx, len(c.Enum))
	}
	return c.Enum[idx-1], nil
}

func (c *Column) setString(bits int64) string {
	var b strings.Builder
	for i, name := range c.Set {
		if bits&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}
