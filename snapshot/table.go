package snapshot

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema"
)

// ErrNoPrimaryKey is returned for a table without a primary key: a snapshot
// reads tables in primary-key order, the order that makes chunks resumable
// and lets binlog changes be matched to copied rows.
var ErrNoPrimaryKey = errors.New("has no primary key")

// Table is one upstream table as a snapshot reads it.
type Table struct {
	// Name is "schema.table".
	Name string
	// Schema is the table as binflow's typed rows describe it (columns in
	// ordinal order, as in the binlog); rows read from the table follow it.
	Schema *schema.Table
	// Key holds the indexes of the primary key's columns, in key order.
	Key  []int
	cols []column

	selectSQL string // SELECT cols FROM t FORCE INDEX (PRIMARY)
	orderSQL  string // ORDER BY key LIMIT ?
	afterSQL  string // WHERE the key is after the bound key
	afterArgs int    // placeholders of afterSQL, in key-prefix order
}

// column is what decoding and comparing one column needs.
type column struct {
	name      string
	dataType  string // information_schema DATA_TYPE
	charset   string // "" for non-character columns
	collation string
	precision int64 // DECIMAL(p, s)
	scale     int64
	fraction  int64 // fractional-second digits of TIME, DATETIME, TIMESTAMP
	octets    int64 // byte length of CHAR/BINARY
	decode    func([]byte) (any, error)
}

// safeName matches the character set and collation names the server
// reports, which are spliced into comparison SQL.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Table reads a table's metadata. A table without a primary key is refused
// with ErrNoPrimaryKey.
func (r *Reader) Table(ctx context.Context, name string) (*Table, error) {
	t, err := r.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(t.Key) == 0 {
		return nil, fmt.Errorf("table %s %w: binflow snapshots read a table in primary-key chunks; add a primary key, "+
			"or set upstream.start = \"current\" to stream the flow without a snapshot", name, ErrNoPrimaryKey)
	}
	return t, nil
}

// describe reads a table's columns and primary key (none when it has none).
func (r *Reader) describe(ctx context.Context, name string) (*Table, error) {
	db, tname, ok := strings.Cut(name, ".")
	if !ok || db == "" || tname == "" {
		return nil, fmt.Errorf("table %q: expected schema.table", name)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, ''),
		IFNULL(COLLATION_NAME, ''), IFNULL(NUMERIC_PRECISION, 0), IFNULL(NUMERIC_SCALE, 0),
		IFNULL(DATETIME_PRECISION, 0), IFNULL(CHARACTER_OCTET_LENGTH, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, db, tname)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", name, err)
	}
	defer rows.Close()
	t := &Table{Name: name}
	var cols []schema.Column
	for rows.Next() {
		var c column
		var columnType string
		if err := rows.Scan(&c.name, &c.dataType, &columnType, &c.charset, &c.collation, &c.precision, &c.scale,
			&c.fraction, &c.octets); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		c.dataType = strings.ToLower(c.dataType)
		sc, err := c.plan(strings.ToLower(columnType))
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", name, c.name, err)
		}
		if c.charset != "" && (!safeName.MatchString(c.charset) || !safeName.MatchString(c.collation)) {
			return nil, fmt.Errorf("table %s column %s: unexpected character set %q / collation %q", name, c.name, c.charset, c.collation)
		}
		t.cols = append(t.cols, c)
		cols = append(cols, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s: %w", name, err)
	}
	if len(t.cols) == 0 {
		return nil, fmt.Errorf("table %s does not exist on the upstream", name)
	}
	keyRows, err := r.db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, db, tname)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", name, err)
	}
	defer keyRows.Close()
	for keyRows.Next() {
		var col string
		if err := keyRows.Scan(&col); err != nil {
			return nil, fmt.Errorf("primary key of %s: %w", name, err)
		}
		for i := range t.cols {
			if t.cols[i].name == col {
				t.Key = append(t.Key, i)
			}
		}
	}
	if err := keyRows.Err(); err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", name, err)
	}
	pk := make([]int, len(t.Key))
	copy(pk, t.Key)
	t.Schema = schema.NewTable(db, tname, cols, pk)
	t.buildSQL(db, tname)
	return t, nil
}

// quote quotes an identifier with backticks.
func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// selectAll is SELECT every column FROM the table, in the schema's order.
func (t *Table) selectAll(db, name string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(c.name))
	}
	b.WriteString(" FROM " + quote(db) + "." + quote(name))
	return b.String()
}

func (t *Table) buildSQL(db, name string) {
	t.selectSQL = t.selectAll(db, name) + " FORCE INDEX (PRIMARY)"

	var b strings.Builder
	b.WriteString(" ORDER BY ")
	for i, k := range t.Key {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(t.cols[k].name))
	}
	b.WriteString(" LIMIT ?")
	t.orderSQL = b.String()

	// (k1 > ?) OR (k1 = ? AND k2 > ?) OR ...: a form the optimizer turns
	// into a range on the primary key, whatever the server version.
	b.Reset()
	b.WriteString(" WHERE ")
	n := 0
	for i := range t.Key {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for j := 0; j <= i; j++ {
			if j > 0 {
				b.WriteString(" AND ")
			}
			op := " = "
			if j == i {
				op = " > "
			}
			c := &t.cols[t.Key[j]]
			b.WriteString(quote(c.name) + op + c.placeholder())
			n++
		}
		b.WriteByte(')')
	}
	t.afterSQL = b.String()
	t.afterArgs = n
}

// placeholder is how a bound key value is written in SQL: decimals are cast
// so that they compare as decimals, not as doubles.
func (c *column) placeholder() string {
	if c.dataType == "decimal" || c.dataType == "numeric" {
		return fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", c.precision, c.scale)
	}
	return "?"
}

// KeyOf returns the primary-key values of a row of the table.
func (t *Table) KeyOf(row []any) []any {
	k := make([]any, len(t.Key))
	for i, j := range t.Key {
		k[i] = row[j]
	}
	return k
}

// KeyNames returns the primary key's column names.
func (t *Table) KeyNames() []string {
	names := make([]string, len(t.Key))
	for i, j := range t.Key {
		names[i] = t.cols[j].name
	}
	return names
}

// Chunk reads up to limit rows of t in primary-key order, after the row
// whose key is after (nil: from the first row), in the view. Each row's
// values follow t.Schema.
func (v *View) Chunk(ctx context.Context, t *Table, after []any, limit int) ([][]any, error) {
	return readChunk(ctx, v.conn, t, after, limit)
}

// Chunk reads like View.Chunk without a view (each query sees the latest
// committed data): for tables whose consistency does not matter.
func (r *Reader) Chunk(ctx context.Context, t *Table, after []any, limit int) ([][]any, error) {
	return readChunk(ctx, r.db, t, after, limit)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readChunk(ctx context.Context, q querier, t *Table, after []any, limit int) ([][]any, error) {
	query := t.selectSQL + t.orderSQL
	var args []any
	if after != nil {
		if len(after) != len(t.Key) {
			return nil, fmt.Errorf("table %s: key has %d values, the primary key %d columns", t.Name, len(after), len(t.Key))
		}
		query = t.selectSQL + t.afterSQL + t.orderSQL
		args = make([]any, 0, t.afterArgs+1)
		for i := range t.Key {
			for j := 0; j <= i; j++ {
				args = append(args, bindValue(after[j]))
			}
		}
	}
	args = append(args, limit)
	return readRows(ctx, q, t, query, args, limit)
}

// readRows runs a query selecting every column of t and decodes its rows
// as the binlog reader decodes rows of t.
func readRows(ctx context.Context, q querier, t *Table, query string, args []any, limit int) ([][]any, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	n := len(t.cols)
	raw := make([]sql.RawBytes, n)
	dest := make([]any, n)
	for i := range raw {
		dest[i] = &raw[i]
	}
	out := make([][]any, 0, limit)
	var slab []any
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		if len(slab) < n {
			slab = make([]any, n*min(limit, 256))
		}
		row := slab[:n:n]
		slab = slab[n:]
		for i, b := range raw {
			if b == nil {
				continue
			}
			val, err := t.cols[i].decode(b)
			if err != nil {
				return nil, fmt.Errorf("read %s: column %s value %q: %w", t.Name, t.cols[i].name, b, err)
			}
			row[i] = val
		}
		// What the binlog reader makes of the values go-mysql decodes, the
		// snapshot makes of the same values read as text: one decoder.
		if err := t.Schema.Decode(row); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	return out, nil
}

// bindValue is a key value as a query argument.
func bindValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return x.String()
	case time.Time:
		if x.IsZero() {
			return "0000-00-00 00:00:00"
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	}
	return v
}

// plan chooses how a column's text decodes and what binflow's schema says
// of it. Each value is decoded into the Go type go-mysql gives the same
// column in a binlog row (integers, decimals, floats, strings for text,
// dates and times, bytes for binary strings), and then, like a binlog row,
// through schema.Table.Decode, so that both end as the same typed value.
// The connection's character set is utf8mb4, so text arrives as UTF-8 and
// the schema column names no charset to convert from.
func (c *column) plan(columnType string) (schema.Column, error) {
	sc := schema.Column{Name: c.name, Unsigned: strings.Contains(columnType, "unsigned"), Character: c.charset != "" && c.charset != "binary"}
	switch c.dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		sc.Type = map[string]byte{"tinyint": gomysql.MYSQL_TYPE_TINY, "smallint": gomysql.MYSQL_TYPE_SHORT,
			"mediumint": gomysql.MYSQL_TYPE_INT24, "int": gomysql.MYSQL_TYPE_LONG, "integer": gomysql.MYSQL_TYPE_LONG,
			"bigint": gomysql.MYSQL_TYPE_LONGLONG}[c.dataType]
		if sc.Unsigned {
			c.decode = decodeUint
		} else {
			c.decode = decodeInt
		}
	case "year":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_YEAR, decodeInt
	case "bit":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_BIT, decodeBit
	case "decimal", "numeric":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_NEWDECIMAL, decodeDecimal
	case "float":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_FLOAT, decodeFloat32
	case "double", "real", "double precision":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_DOUBLE, decodeFloat64
	case "date":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_DATE, decodeString
	case "datetime":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_DATETIME2, decodeString
	case "timestamp":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_TIMESTAMP2, decodeString
	case "time":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_TIME2, decodeString
	case "enum":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_ENUM, decodeString
		sc.Enum = parseValueList(columnType, "enum")
	case "set":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_SET, decodeString
		sc.Set = parseValueList(columnType, "set")
	case "json":
		sc.Type, c.decode = gomysql.MYSQL_TYPE_JSON, decodeString
	case "char", "binary":
		sc.Type, sc.Length = gomysql.MYSQL_TYPE_STRING, int(c.octets)
	case "varchar", "varbinary":
		sc.Type = gomysql.MYSQL_TYPE_VARCHAR
	default: // TEXT and BLOB kinds, and types binflow reads as bytes
		sc.Type = gomysql.MYSQL_TYPE_BLOB
	}
	switch c.dataType {
	case "time", "datetime", "timestamp":
		sc.Decimals = int(min(c.fraction, 6))
	}
	if c.decode == nil {
		// go-mysql hands CHAR/VARCHAR over as strings (BINARY and VARBINARY
		// too), TEXT and BLOB as bytes (TEXT: strings with their schema).
		switch {
		case sc.Character, sc.Type == gomysql.MYSQL_TYPE_STRING, sc.Type == gomysql.MYSQL_TYPE_VARCHAR:
			c.decode = decodeString
		default:
			c.decode = decodeBytes
		}
	}
	return sc, nil
}

// parseValueList reads the members of "enum('a','b')" or "set('x','y')".
func parseValueList(columnType, kind string) []string {
	body := strings.TrimSuffix(strings.TrimPrefix(columnType, kind+"("), ")")
	var out []string
	for len(body) > 0 {
		if body[0] != '\'' {
			break
		}
		var b strings.Builder
		i := 1
		for i < len(body) {
			if body[i] == '\'' {
				if i+1 < len(body) && body[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			if body[i] == '\\' && i+1 < len(body) {
				i++
			}
			b.WriteByte(body[i])
			i++
		}
		out = append(out, b.String())
		body = strings.TrimPrefix(body[min(i+1, len(body)):], ",")
	}
	return out
}

func decodeInt(b []byte) (any, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return nil, err
	}
	return n, nil
}

func decodeUint(b []byte) (any, error) {
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// decodeBit reads BIT(n) (sent as big-endian bytes) as go-mysql does: an
// int64 (which schema decoding makes a uint64).
func decodeBit(b []byte) (any, error) {
	if len(b) > 8 {
		return nil, fmt.Errorf("BIT value of %d bytes", len(b))
	}
	var buf [8]byte
	copy(buf[8-len(b):], b)
	return int64(binary.BigEndian.Uint64(buf[:])), nil
}

func decodeDecimal(b []byte) (any, error) {
	return decimal.NewFromString(string(b))
}

func decodeFloat32(b []byte) (any, error) {
	f, err := strconv.ParseFloat(string(b), 32)
	if err != nil {
		return nil, err
	}
	return float32(f), nil
}

func decodeFloat64(b []byte) (any, error) {
	return strconv.ParseFloat(string(b), 64)
}

func decodeString(b []byte) (any, error) { return string(b), nil }

func decodeBytes(b []byte) (any, error) {
	out := make([]byte, len(b)) // an empty value stays empty, not nil (NULL)
	copy(out, b)
	return out, nil
}
