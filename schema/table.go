package schema

import (
	"fmt"
	"reflect"
	"sync"
)

// Column describes one column of a table as the binlog sees it.
type Column struct {
	Name     string
	Type     byte // MySQL type (mysql.MYSQL_TYPE_*), ENUM/SET resolved from metadata
	RawType  byte // the type byte as the table map logs it
	Unsigned bool
	// Character is true for text columns (a non-binary collation), which
	// decode to string; binary ones decode to []byte.
	Character bool
	// Collation is the column's collation id as the table map logs it (0 when
	// it does not); Charset names its character set ("utf8mb4", "latin1",
	// "binary"; "" when unknown). Text in charsets other than utf8mb3/utf8mb4
	// is converted to UTF-8.
	Collation uint64
	Charset   string
	// Length is the byte length of a fixed-length CHAR or BINARY column:
	// MySQL pads BINARY(n) with zero bytes that the binlog leaves out, and
	// decoding puts them back.
	Length int
	// Decimals is the fractional-second digits of TIME, DATETIME and
	// TIMESTAMP columns.
	Decimals int
	Enum     []string // ENUM values, in order (UTF-8)
	Set      []string // SET members, in bit order (UTF-8)
	// Format is set for MariaDB's INET6 and UUID, which the binlog logs as
	// BINARY(16) and SELECT prints as text; only a table definition (see
	// TableFromMapAndDef) tells them apart.
	Format Format

	conv *charsetConv // nil when values need no conversion
	bad  error        // set when the column cannot be decoded: every value fails with it
}

// Table is the schema of one upstream table at one point of the binlog.
type Table struct {
	Schema  string
	Name    string
	Columns []Column
	// PrimaryKey holds column indexes, in key order; empty when the table has
	// no primary key or the binlog does not say.
	PrimaryKey []int
	fullName   string
	index      map[string]int
	bindings   sync.Map // reflect.Type -> *StructBinding
}

// NewTable builds a table and its column index.
func NewTable(schemaName, name string, cols []Column, pk []int) *Table {
	t := &Table{Schema: schemaName, Name: name, Columns: cols, PrimaryKey: pk,
		fullName: schemaName + "." + name, index: make(map[string]int, len(cols))}
	for i := range cols {
		t.index[cols[i].Name] = i
		if cols[i].Character && cols[i].conv == nil {
			cols[i].conv = convFor(cols[i].Charset)
		}
	}
	return t
}

// FullName is "schema.table", the name flows select tables by.
func (t *Table) FullName() string { return t.fullName }

// ColumnIndex returns the index of the named column, or -1.
func (t *Table) ColumnIndex(name string) int {
	if i, ok := t.index[name]; ok {
		return i
	}
	return -1
}

// ColumnNames lists the column names in order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i := range t.Columns {
		names[i] = t.Columns[i].Name
	}
	return names
}

// Resolve resolves names to indexes, failing on the first unknown name.
func (t *Table) Resolve(names []string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		j := t.ColumnIndex(n)
		if j < 0 {
			return nil, fmt.Errorf("table %s has no column %q", t.FullName(), n)
		}
		idx[i] = j
	}
	return idx, nil
}

// Binding returns the binding of struct type typ to this table's columns,
// planned on first use and cached: a table (one schema of one upstream
// table) and a struct type make one binding, whatever the number of rows.
func (t *Table) Binding(typ reflect.Type) (*StructBinding, error) {
	if b, ok := t.bindings.Load(typ); ok {
		return b.(*StructBinding), nil
	}
	b, err := Bind(typ, t.ColumnNames())
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.FullName(), err)
	}
	actual, _ := t.bindings.LoadOrStore(typ, b)
	return actual.(*StructBinding), nil
}
