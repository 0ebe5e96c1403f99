package schema

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// A table map event says how each value is stored (type bytes, metadata,
// and with binlog_row_metadata=MINIMAL signedness and charsets), but only
// with binlog_row_metadata=FULL which column it is (names), the ENUM and
// SET values and the primary key; and never whether a 16-byte binary
// column is MariaDB's INET6 or UUID rather than BINARY(16). A TableDef, the
// table as DDL or information_schema describes it (package canal keeps
// their history through the binlog), fills those gaps, and
// TableFromMapAndDef checks it against what the table map does say.

// ColumnDef is one column as DDL or information_schema describes it.
type ColumnDef struct {
	Name string
	// Type is the MySQL type code of the column's data type
	// (mysql.MYSQL_TYPE_*): TEXT and BLOB of every size are
	// MYSQL_TYPE_BLOB, CHAR and BINARY MYSQL_TYPE_STRING, VARCHAR and
	// VARBINARY MYSQL_TYPE_VARCHAR, INET6 and UUID MYSQL_TYPE_STRING.
	Type     byte
	Unsigned bool
	// Values are the ENUM or SET values, in UTF-8.
	Values []string
	// Format is set for data types stored as fixed-length bytes but read
	// as text (MariaDB's INET6 and UUID).
	Format Format
}

// Format names a data type stored as bytes and printed as text by SELECT.
type Format uint8

// Formats of fixed-length binary data types.
const (
	FormatNone  Format = iota
	FormatInet6        // MariaDB INET6: 16 bytes of an IPv6 address
	FormatUUID         // MariaDB UUID: 16 bytes, in text order in the binlog
)

func (f Format) String() string {
	switch f {
	case FormatInet6:
		return "INET6"
	case FormatUUID:
		return "UUID"
	}
	return ""
}

// TableDef is a table as DDL or information_schema describes it.
type TableDef struct {
	Columns    []ColumnDef
	PrimaryKey []string // column names, in key order
}

// Clone returns a deep copy, for changing one version without the other.
func (d *TableDef) Clone() *TableDef {
	c := &TableDef{Columns: make([]ColumnDef, len(d.Columns)), PrimaryKey: append([]string(nil), d.PrimaryKey...)}
	for i, col := range d.Columns {
		col.Values = append([]string(nil), col.Values...)
		c.Columns[i] = col
	}
	return c
}

// ColumnIndex returns the index of the named column, or -1. Column names
// are case-insensitive in MySQL and MariaDB.
func (d *TableDef) ColumnIndex(name string) int {
	for i := range d.Columns {
		if strings.EqualFold(d.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// HasFixedBinary16 reports whether a table map has a column that may be
// MariaDB's INET6 or UUID: a binary CHAR of 16 bytes, which the binlog does
// not tell from BINARY(16).
func HasFixedBinary16(tm *replication.TableMapEvent) bool {
	collations := tm.CollationMap()
	for i := range int(tm.ColumnCount) {
		if fixedBinary16(tm, collations, i) {
			return true
		}
	}
	return false
}

// FixedBinary16Columns lists the indexes of a table map's columns that may
// be MariaDB's INET6 or UUID (see HasFixedBinary16).
func FixedBinary16Columns(tm *replication.TableMapEvent) []int {
	collations := tm.CollationMap()
	var out []int
	for i := range int(tm.ColumnCount) {
		if fixedBinary16(tm, collations, i) {
			out = append(out, i)
		}
	}
	return out
}

func fixedBinary16(tm *replication.TableMapEvent, collations map[int]uint64, i int) bool {
	if i >= len(tm.ColumnType) || i >= len(tm.ColumnMeta) {
		return false
	}
	typ, meta := realType(tm.ColumnType[i], tm.ColumnMeta[i])
	if typ != mysql.MYSQL_TYPE_STRING || stringLength(meta) != 16 {
		return false
	}
	coll, ok := collations[i]
	return !ok || coll == binaryCollation
}

// TableFromMapAndDef builds the schema of a table from its table map and
// its definition at that point of the binlog: column names come from the
// map when it has them (binlog_row_metadata=FULL), otherwise from def, by
// position; ENUM/SET values and the primary key likewise; INET6 and UUID
// only from def. Every column's type must agree between the two, or the
// definition is not the one the event was written with and an error says
// so. def may be nil when the map has names and no column needs it.
func TableFromMapAndDef(tm *replication.TableMapEvent, def *TableDef) (*Table, error) {
	n := int(tm.ColumnCount)
	name := string(tm.Schema) + "." + string(tm.Table)
	if len(tm.ColumnType) != n || len(tm.ColumnMeta) != n {
		return nil, fmt.Errorf("table %s: malformed table map (%d columns, %d types)", name, n, len(tm.ColumnType))
	}
	names := tm.ColumnNameString()
	full := len(names) == n
	if !full {
		if def == nil {
			return nil, fmt.Errorf("table %s: %w", name, ErrNoColumnNames)
		}
		if len(def.Columns) != n {
			return nil, fmt.Errorf("table %s: the binlog event has %d columns but the table's definition at that point has %d (%s): "+
				"the schema history does not match the binlog", name, n, len(def.Columns), strings.Join(def.names(), ", "))
		}
	}
	if !full && tm.UnsignedMap() == nil && tm.CollationMap() == nil && (hasNumeric(tm) || hasCharacter(tm)) {
		// MariaDB's NO_LOG: go-mysql reads every integer as signed, and
		// text cannot be told from bytes.
		return nil, fmt.Errorf("table %s: the table map has neither signedness nor charsets (binlog_row_metadata=NO_LOG): "+
			"set binlog_row_metadata=MINIMAL or FULL on the upstream", name)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enumSetCollations := tm.EnumSetCollationMap()
	enums, sets := tm.EnumStrValueMap(), tm.SetStrValueMap()
	cols := make([]Column, n)
	for i := range cols {
		coll, character := collations[i]
		if esColl, ok := enumSetCollations[i]; ok {
			coll = esColl
		}
		var cd *ColumnDef
		colName := ""
		if full {
			colName = names[i]
		} else {
			cd = &def.Columns[i]
			colName = cd.Name
		}
		c := mapColumn(colName, tm.ColumnType[i], tm.ColumnMeta[i], unsigned[i], coll, character, enums[i], sets[i])
		if full && def != nil && c.Type == mysql.MYSQL_TYPE_STRING && !c.Character && c.Length == 16 {
			// The map names the column; only the definition tells
			// BINARY(16) from INET6 and UUID.
			j := def.ColumnIndex(colName)
			if j < 0 {
				return nil, fmt.Errorf("table %s column %s: the table's definition at that point has no such column (%s): "+
					"the schema history does not match the binlog", name, colName, strings.Join(def.names(), ", "))
			}
			cd = &def.Columns[j]
		}
		if cd == nil {
			cols[i] = c
			continue
		}
		if !compatible(c.Type, cd.Type) {
			return nil, fmt.Errorf("table %s column %s: the binlog event stores a %s but the table's definition at that point says %s: "+
				"the schema history does not match the binlog", name, colName, typeName(c.Type), typeName(cd.Type))
		}
		switch {
		case c.Type == mysql.MYSQL_TYPE_ENUM && enums[i] == nil:
			c.Enum = cd.Values
		case c.Type == mysql.MYSQL_TYPE_SET && sets[i] == nil:
			c.Set = cd.Values
		}
		if cd.Format != FormatNone && c.Type == mysql.MYSQL_TYPE_STRING && !c.Character && c.Length == 16 {
			c.Format = cd.Format
		}
		cols[i] = c
	}
	var pk []int
	if len(tm.PrimaryKey) > 0 {
		for _, p := range tm.PrimaryKey {
			pk = append(pk, int(p))
		}
	} else if def != nil && !full {
		// (A FULL map carries the primary key: none there is none.)
		t := NewTable(string(tm.Schema), string(tm.Table), cols, nil)
		for _, k := range def.PrimaryKey {
			if j := t.ColumnIndex(k); j >= 0 {
				pk = append(pk, j)
			}
		}
	}
	return NewTable(string(tm.Schema), string(tm.Table), cols, pk), nil
}

func hasNumeric(tm *replication.TableMapEvent) bool {
	for i := range int(tm.ColumnCount) {
		if tm.IsNumericColumn(i) {
			return true
		}
	}
	return false
}

func hasCharacter(tm *replication.TableMapEvent) bool {
	for i := range int(tm.ColumnCount) {
		if tm.IsCharacterColumn(i) {
			return true
		}
	}
	return false
}

func (d *TableDef) names() []string {
	out := make([]string, len(d.Columns))
	for i := range d.Columns {
		out[i] = d.Columns[i].Name
	}
	return out
}

// baseType folds the type codes that name one kind of storage.
func baseType(t byte) byte {
	switch t {
	case mysql.MYSQL_TYPE_TIME2:
		return mysql.MYSQL_TYPE_TIME
	case mysql.MYSQL_TYPE_DATETIME2:
		return mysql.MYSQL_TYPE_DATETIME
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return mysql.MYSQL_TYPE_TIMESTAMP
	case mysql.MYSQL_TYPE_NEWDATE:
		return mysql.MYSQL_TYPE_DATE
	case mysql.MYSQL_TYPE_VAR_STRING:
		return mysql.MYSQL_TYPE_VARCHAR
	case mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		return mysql.MYSQL_TYPE_BLOB
	case mysql.MYSQL_TYPE_DECIMAL:
		return mysql.MYSQL_TYPE_NEWDECIMAL
	}
	return t
}

// compatible reports whether a column logged with type code logged can be
// one defined with type code defined.
func compatible(logged, defined byte) bool {
	l, d := baseType(logged), baseType(defined)
	switch {
	case l == d:
		return true
	case d == mysql.MYSQL_TYPE_JSON:
		return l == mysql.MYSQL_TYPE_BLOB // MariaDB's JSON is LONGTEXT
	case d == mysql.MYSQL_TYPE_VARCHAR:
		// A short VARCHAR of a table made before MySQL 5.0.3 is logged as
		// CHAR; not expected, but not a different column either.
		return l == mysql.MYSQL_TYPE_STRING
	}
	return false
}

// TypeCode maps an information_schema DATA_TYPE ("int", "varchar",
// "longtext", "inet6", ...) to its type code and format; ok is false for a
// name binflow does not know.
func TypeCode(dataType string) (code byte, format Format, ok bool) {
	switch strings.ToLower(dataType) {
	case "tinyint", "bool", "boolean":
		return mysql.MYSQL_TYPE_TINY, FormatNone, true
	case "smallint":
		return mysql.MYSQL_TYPE_SHORT, FormatNone, true
	case "mediumint":
		return mysql.MYSQL_TYPE_INT24, FormatNone, true
	case "int", "integer":
		return mysql.MYSQL_TYPE_LONG, FormatNone, true
	case "bigint":
		return mysql.MYSQL_TYPE_LONGLONG, FormatNone, true
	case "decimal", "numeric":
		return mysql.MYSQL_TYPE_NEWDECIMAL, FormatNone, true
	case "float":
		return mysql.MYSQL_TYPE_FLOAT, FormatNone, true
	case "double", "real":
		return mysql.MYSQL_TYPE_DOUBLE, FormatNone, true
	case "bit":
		return mysql.MYSQL_TYPE_BIT, FormatNone, true
	case "year":
		return mysql.MYSQL_TYPE_YEAR, FormatNone, true
	case "date":
		return mysql.MYSQL_TYPE_DATE, FormatNone, true
	case "time":
		return mysql.MYSQL_TYPE_TIME, FormatNone, true
	case "datetime":
		return mysql.MYSQL_TYPE_DATETIME, FormatNone, true
	case "timestamp":
		return mysql.MYSQL_TYPE_TIMESTAMP, FormatNone, true
	case "char", "binary":
		return mysql.MYSQL_TYPE_STRING, FormatNone, true
	case "varchar", "varbinary":
		return mysql.MYSQL_TYPE_VARCHAR, FormatNone, true
	case "tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob":
		return mysql.MYSQL_TYPE_BLOB, FormatNone, true
	case "enum":
		return mysql.MYSQL_TYPE_ENUM, FormatNone, true
	case "set":
		return mysql.MYSQL_TYPE_SET, FormatNone, true
	case "json":
		return mysql.MYSQL_TYPE_JSON, FormatNone, true
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection":
		return mysql.MYSQL_TYPE_GEOMETRY, FormatNone, true
	case "inet6":
		return mysql.MYSQL_TYPE_STRING, FormatInet6, true
	case "uuid":
		return mysql.MYSQL_TYPE_STRING, FormatUUID, true
	}
	return 0, FormatNone, false
}

func typeName(t byte) string {
	switch baseType(t) {
	case mysql.MYSQL_TYPE_TINY:
		return "TINYINT"
	case mysql.MYSQL_TYPE_SHORT:
		return "SMALLINT"
	case mysql.MYSQL_TYPE_INT24:
		return "MEDIUMINT"
	case mysql.MYSQL_TYPE_LONG:
		return "INT"
	case mysql.MYSQL_TYPE_LONGLONG:
		return "BIGINT"
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return "DECIMAL"
	case mysql.MYSQL_TYPE_FLOAT:
		return "FLOAT"
	case mysql.MYSQL_TYPE_DOUBLE:
		return "DOUBLE"
	case mysql.MYSQL_TYPE_BIT:
		return "BIT"
	case mysql.MYSQL_TYPE_YEAR:
		return "YEAR"
	case mysql.MYSQL_TYPE_DATE:
		return "DATE"
	case mysql.MYSQL_TYPE_TIME:
		return "TIME"
	case mysql.MYSQL_TYPE_DATETIME:
		return "DATETIME"
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return "TIMESTAMP"
	case mysql.MYSQL_TYPE_STRING:
		return "CHAR/BINARY"
	case mysql.MYSQL_TYPE_VARCHAR:
		return "VARCHAR/VARBINARY"
	case mysql.MYSQL_TYPE_BLOB:
		return "TEXT/BLOB"
	case mysql.MYSQL_TYPE_ENUM:
		return "ENUM"
	case mysql.MYSQL_TYPE_SET:
		return "SET"
	case mysql.MYSQL_TYPE_JSON:
		return "JSON"
	case mysql.MYSQL_TYPE_GEOMETRY:
		return "GEOMETRY"
	}
	return "type " + strconv.Itoa(int(t))
}

// formatFixed prints the stored bytes of an INET6 or UUID value as SELECT
// does. The binlog leaves out trailing zero bytes, as of any BINARY(n).
func (c *Column) formatFixed(s string) (string, error) {
	if len(s) > 16 {
		return "", fmt.Errorf("%s value of %d bytes, want 16", c.Format, len(s))
	}
	var b [16]byte
	copy(b[:], s)
	if c.Format == FormatUUID {
		return formatUUID(b), nil
	}
	return formatInet6(b), nil
}

// formatUUID writes the 16 bytes as 8-4-4-4-12 lowercase hex digits: the
// binlog logs a MariaDB UUID in text order (only its index storage swaps
// segments).
func formatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// formatInet6 prints an IPv6 address as MariaDB's INET6 (and INET6_NTOA)
// does: lowercase hex words without leading zeros, the first longest run
// of zero words (even a single one) as "::", and IPv4-compatible
// (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses with a dotted
// quad. Go's net.IP prints mapped addresses as bare IPv4 and never
// shortens a single zero word, so it is not used.
func formatInet6(b [16]byte) string {
	var words [8]uint16
	for i := range words {
		words[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	gapPos, gapLen := -1, 0
	for i := 0; i < 8; {
		if words[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && words[j] == 0 {
			j++
		}
		if j-i > gapLen {
			gapPos, gapLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		switch {
		case i == gapPos:
			if i == 0 {
				sb.WriteByte(':')
			}
			sb.WriteByte(':')
			i += gapLen - 1
		case i == 6 && gapPos == 0 && (gapLen == 6 || gapLen == 5 && words[5] == 0xffff):
			fmt.Fprintf(&sb, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			return sb.String()
		default:
			sb.WriteString(strconv.FormatUint(uint64(words[i]), 16))
			if i != 7 {
				sb.WriteByte(':')
			}
		}
	}
	return sb.String()
}
