package schema

import "strings"

// ChangeKind says what a statement did to a table.
type ChangeKind string

const (
	// ChangeTruncate: TRUNCATE TABLE removed every row, without row events.
	ChangeTruncate ChangeKind = "truncate"
	// ChangeRows: some rows were removed or replaced without row events
	// (ALTER TABLE ... TRUNCATE, DROP or EXCHANGE PARTITION, IMPORT or
	// DISCARD TABLESPACE).
	ChangeRows ChangeKind = "rows"
	// ChangeDrop: DROP TABLE (also the drop half of CREATE OR REPLACE TABLE).
	ChangeDrop ChangeKind = "drop"
	// ChangeDropDatabase: DROP DATABASE; Table is the database name.
	ChangeDropDatabase ChangeKind = "drop database"
	// ChangeRename: RENAME TABLE, or ALTER TABLE ... RENAME TO; see To.
	ChangeRename ChangeKind = "rename"
	// ChangeAlter: any other ALTER TABLE. Rows keep their values, and the
	// row events after it carry the new columns in their own table map.
	ChangeAlter ChangeKind = "alter"
	// ChangeCreate: CREATE TABLE, including ... LIKE and ... SELECT (whose
	// rows arrive as row events).
	ChangeCreate ChangeKind = "create"
)

// TableChange is what one statement logged as a query (DDL) does to one
// table. Row events carry their own schema (binlog_row_metadata=FULL), but
// TRUNCATE, DROP and RENAME change a table's rows or identity without any
// row event, so a flow reading the table must react to them or stop.
type TableChange struct {
	Kind  ChangeKind
	Table string // "schema.table" (the database name for ChangeDropDatabase)
	// To is the new "schema.table" of a rename.
	To string
}

// Affects reports whether the change concerns table ("schema.table").
func (c TableChange) Affects(table string) bool {
	if c.Kind == ChangeDropDatabase {
		return strings.HasPrefix(table, c.Table+".")
	}
	return c.Table == table || c.To == table
}

// MentionsTable reports whether a statement names table ("schema.table")
// anywhere as an identifier, bare or quoted, ignoring case and the text of
// string literals and comments. It is deliberately loose (the schema part is
// not required, a column of that name counts): it decides whether a
// statement that cannot be parsed may concern the table.
func MentionsTable(query, table string) bool {
	name := table
	if i := strings.IndexByte(table, '.'); i >= 0 {
		name = table[i+1:]
	}
	found := false
	identifiers(query, func(id string) bool {
		found = strings.EqualFold(id, name)
		return !found
	})
	return found
}

// identifiers calls f with each identifier-like token of a SQL statement
// (bare words and `quoted` or "quoted" names, unescaped) until f returns
// false. String literals and comments are skipped.
func identifiers(q string, f func(string) bool) {
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'':
			i = skipQuoted(q, i, '\'')
		case c == '`' || c == '"':
			end := skipQuoted(q, i, c)
			inner := q[i+1 : end]
			if strings.HasSuffix(inner, string(c)) {
				inner = inner[:len(inner)-1]
			}
			if !f(strings.ReplaceAll(inner, string([]byte{c, c}), string(c))) {
				return
			}
			i = end
		case c == '#' || c == '-' && strings.HasPrefix(q[i:], "-- "):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(q)
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			if j := strings.Index(q[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(q)
			}
		case isIdentByte(c):
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			if !f(q[i:j]) {
				return
			}
			i = j
		default:
			i++
		}
	}
}

// skipQuoted returns the index after the quoted token starting at i, where
// a doubled quote (or a backslash, in strings) escapes.
func skipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		switch {
		case q[j] == '\\' && quote == '\'':
			j++
		case q[j] == quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}
