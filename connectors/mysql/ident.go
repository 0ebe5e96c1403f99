package mysql

import (
	"strings"

	"github.com/binflow/binflow/connectors/internal/stmt"
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

// writeIdent appends the quoted form of name to b.
func writeIdent(b *strings.Builder, name string) error { return stmt.WriteIdent(b, name, '`') }

// writeTable appends the quoted form of a possibly database-qualified table
// name to b.
func writeTable(b *strings.Builder, name string) error {
	return stmt.WriteTable(b, name, '`', "database")
}
