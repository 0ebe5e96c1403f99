package mysql

import (
	"errors"
	"fmt"
	"strings"
)

// QuoteIdent quotes one MySQL identifier (a database, table or column name)
// with backticks, doubling any backtick inside it, so that any name, however
// hostile, is read by the server as exactly that name. Empty names and names
// containing NUL cannot be quoted and are rejected.
func QuoteIdent(name string) (string, error) {
	var b strings.Builder
	if err := writeIdent(&b, name); err != nil {
		return "", err
	}
	return b.String(), nil
}

// quoteTable quotes a table name that may be qualified by its database:
// "db.table" becomes "`db`.`table`". The name is split at its first dot, so a
// table whose own name contains a dot must be qualified by its database.
func quoteTable(name string) (string, error) {
	var b strings.Builder
	if err := writeTable(&b, name); err != nil {
		return "", err
	}
	return b.String(), nil
}

var (
	errEmptyIdent = errors.New("identifier is empty")
	errNULIdent   = errors.New("identifier contains a NUL byte")
)

// writeIdent appends the quoted form of name to b.
func writeIdent(b *strings.Builder, name string) error {
	if name == "" {
		return errEmptyIdent
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%w: %q", errNULIdent, name)
	}
	b.Grow(len(name) + 2)
	b.WriteByte('`')
	for {
		i := strings.IndexByte(name, '`')
		if i < 0 {
			break
		}
		b.WriteString(name[:i+1])
		b.WriteByte('`')
		name = name[i+1:]
	}
	b.WriteString(name)
	b.WriteByte('`')
	return nil
}

// writeTable appends the quoted form of a possibly database-qualified table
// name to b.
func writeTable(b *strings.Builder, name string) error {
	db, table, qualified := strings.Cut(name, ".")
	if !qualified {
		if err := writeIdent(b, name); err != nil {
			return fmt.Errorf("table name %q: %w", name, err)
		}
		return nil
	}
	if err := writeIdent(b, db); err != nil {
		return fmt.Errorf("database part of table name %q: %w", name, err)
	}
	b.WriteByte('.')
	if err := writeIdent(b, table); err != nil {
		return fmt.Errorf("table part of table name %q: %w", name, err)
	}
	return nil
}
