package schema

import "fmt"

// Column describes one column of a table as the binlog sees it.
type Column struct {
	Name     string
	Type     byte // MySQL type (mysql.MYSQL_TYPE_*), ENUM/SET resolved from metadata
	RawType  byte // the type byte as the table map logs it
	Unsigned bool
	// Character is true for text columns (a non-binary collation), which
	// decode to string; binary ones decode to []byte.
	Character bool
	Enum      []string // ENUM values, in order
	Set       []string // SET members, in bit order
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
}

// NewTable builds a table and its column index.
func NewTable(schemaName, name string, cols []Column, pk []int) *Table {
	t := &Table{Schema: schemaName, Name: name, Columns: cols, PrimaryKey: pk,
		fullName: schemaName + "." + name, index: make(map[string]int, len(cols))}
	for i, c := range cols {
		t.index[c.Name] = i
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
