package stmt

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of identifiers that cannot be quoted.
var (
	ErrEmptyIdent = errors.New("identifier is empty")
	ErrNULIdent   = errors.New("identifier contains a NUL byte")
)

// WriteIdent appends name quoted with q (a backtick for MySQL, a double
// quote for standard SQL), doubling any q inside it, so that any name,
// however hostile, is read as exactly that name. Empty names and names
// containing NUL cannot be quoted and are rejected.
func WriteIdent(b *strings.Builder, name string, q byte) error {
	if name == "" {
		return ErrEmptyIdent
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrNULIdent, name)
	}
	b.Grow(len(name) + 2)
	b.WriteByte(q)
	for {
		i := strings.IndexByte(name, q)
		if i < 0 {
			break
		}
		b.WriteString(name[:i+1])
		b.WriteByte(q)
		name = name[i+1:]
	}
	b.WriteString(name)
	b.WriteByte(q)
	return nil
}

// WriteTable appends a table name that may be qualified ("db.table", split
// at its first dot: a table whose own name contains a dot must be
// qualified), each part quoted with q; qualifier names the first part in
// errors ("database", "schema").
func WriteTable(b *strings.Builder, name string, q byte, qualifier string) error {
	first, table, qualified := strings.Cut(name, ".")
	if !qualified {
		if err := WriteIdent(b, name, q); err != nil {
			return fmt.Errorf("table name %q: %w", name, err)
		}
		return nil
	}
	if err := WriteIdent(b, first, q); err != nil {
		return fmt.Errorf("%s part of table name %q: %w", qualifier, name, err)
	}
	b.WriteByte('.')
	if err := WriteIdent(b, table, q); err != nil {
		return fmt.Errorf("table part of table name %q: %w", name, err)
	}
	return nil
}
