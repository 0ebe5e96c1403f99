package canal

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DDL (defaults)

	"github.com/binflow/binflow/schema"
)

// TableChange is what one DDL statement does to one table (see
// schema.TableChange).
type TableChange = schema.TableChange

// DDLParser reads DDL statements. It is not safe for concurrent use: each
// binlog connection has its own.
type DDLParser struct{ p *parser.Parser }

// MariaDB syntax the parser (TiDB's, MySQL's grammar) does not know, which
// changes nothing about which table a statement touches or how: rewritten
// before parsing.
var (
	// ALTER ONLINE TABLE, ALTER IGNORE TABLE
	alterOnline = regexp.MustCompile(`(?is)^(\s*ALTER)\s+(?:ONLINE\s+|IGNORE\s+)+(TABLE\b)`)
	// RENAME TABLE IF EXISTS (10.5)
	renameIfExists = regexp.MustCompile(`(?is)^(\s*RENAME\s+TABLES?)\s+IF\s+EXISTS\b`)
	// WAIT n / NOWAIT after the table name of ALTER, RENAME, DROP, TRUNCATE
	// (10.3); only directly after a name, not anywhere in the text.
	waitClause = regexp.MustCompile("(?i)((?:`(?:[^`]|``)+`|[A-Za-z0-9_$.]+))\\s+(?:WAIT\\s+[0-9.]+|NOWAIT)\\b")
	// CREATE OR REPLACE TABLE is DROP TABLE IF EXISTS, then CREATE TABLE.
	createOrReplace = regexp.MustCompile(`(?is)^(\s*CREATE)\s+OR\s+REPLACE\s+((?:TEMPORARY\s+)?TABLE\b)`)
)

// ParseDDL lists the table changes of a statement run with defaultSchema as
// its current database. Statements that change no table's rows or name
// (CREATE USER, GRANT, CREATE TRIGGER, ANALYZE ...) give nothing; a
// statement the parser cannot read is an error (the caller decides whether
// that matters: it does only for statements that may touch a flow's tables).
func (d *DDLParser) ParseDDL(defaultSchema, query string) ([]TableChange, error) {
	stmts, replace, err := d.parse(query)
	if err != nil {
		return nil, err
	}
	name := func(t *ast.TableName) string { return qualified(defaultSchema, t) }
	var out []TableChange
	for _, stmt := range stmts {
		switch s := stmt.(type) {
		case *ast.TruncateTableStmt:
			out = append(out, TableChange{Kind: schema.ChangeTruncate, Table: name(s.Table)})
		case *ast.DropTableStmt:
			if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
				continue // a temporary table shadows, never drops, the real one
			}
			for _, t := range s.Tables {
				out = append(out, TableChange{Kind: schema.ChangeDrop, Table: name(t)})
			}
		case *ast.DropDatabaseStmt:
			out = append(out, TableChange{Kind: schema.ChangeDropDatabase, Table: s.Name.O})
		case *ast.RenameTableStmt:
			for _, tt := range s.TableToTables {
				out = append(out, TableChange{Kind: schema.ChangeRename, Table: name(tt.OldTable), To: name(tt.NewTable)})
			}
		case *ast.AlterTableStmt:
			out = append(out, alterChanges(name(s.Table), s, name)...)
		case *ast.CreateTableStmt:
			if s.TemporaryKeyword != ast.TemporaryNone {
				continue
			}
			if replace {
				out = append(out, TableChange{Kind: schema.ChangeDrop, Table: name(s.Table)})
			}
			out = append(out, TableChange{Kind: schema.ChangeCreate, Table: name(s.Table)})
		}
	}
	return out, nil
}

// parse reads a statement after rewriting the MariaDB syntax the parser
// does not know; replace reports CREATE OR REPLACE TABLE (parsed as CREATE
// TABLE). A harmless statement it cannot read gives no statements and no
// error.
func (d *DDLParser) parse(query string) (stmts []ast.StmtNode, replace bool, err error) {
	if d.p == nil {
		d.p = parser.New()
	}
	q := alterOnline.ReplaceAllString(query, "$1 $2")
	q = renameIfExists.ReplaceAllString(q, "$1")
	if isAlterRenameDropTruncate(q) {
		q = waitClause.ReplaceAllString(q, "$1")
	}
	if createOrReplace.MatchString(q) {
		q, replace = createOrReplace.ReplaceAllString(q, "$1 $2"), true
	}
	stmts, _, err = d.p.Parse(q, "", "")
	if err != nil {
		if harmless(query) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("parse statement %.200q: %w", query, err)
	}
	return stmts, replace, nil
}

// qualified is "schema.table" of a table name, in defaultSchema when the
// statement does not say.
func qualified(defaultSchema string, t *ast.TableName) string {
	db := t.Schema.O
	if db == "" {
		db = defaultSchema
	}
	return db + "." + t.Name.O
}

// alterChanges classifies an ALTER TABLE: a rename, or changes to rows
// made without row events (partition and tablespace operations), or a
// schema change that row events describe themselves.
func alterChanges(table string, s *ast.AlterTableStmt, name func(*ast.TableName) string) []TableChange {
	c := TableChange{Kind: schema.ChangeAlter, Table: table}
	var extra []TableChange
	for _, spec := range s.Specs {
		switch spec.Tp {
		case ast.AlterTableRenameTable:
			if spec.NewTable != nil {
				c.Kind, c.To = schema.ChangeRename, name(spec.NewTable)
			}
		case ast.AlterTableTruncatePartition, ast.AlterTableDropPartition, ast.AlterTableDropFirstPartition,
			ast.AlterTableImportTablespace, ast.AlterTableDiscardTablespace,
			ast.AlterTableImportPartitionTablespace, ast.AlterTableDiscardPartitionTablespace:
			if c.Kind == schema.ChangeAlter {
				c.Kind = schema.ChangeRows
			}
		case ast.AlterTableExchangePartition:
			if c.Kind == schema.ChangeAlter {
				c.Kind = schema.ChangeRows
			}
			if spec.NewTable != nil {
				extra = append(extra, TableChange{Kind: schema.ChangeRows, Table: name(spec.NewTable)})
			}
		}
	}
	return append([]TableChange{c}, extra...)
}

var leadingWord = regexp.MustCompile(`^\s*(?:/\*.*?\*/\s*)*([A-Za-z]+)`)

func isAlterRenameDropTruncate(q string) bool {
	m := leadingWord.FindStringSubmatch(q)
	if m == nil {
		return false
	}
	switch strings.ToUpper(m[1]) {
	case "ALTER", "RENAME", "DROP", "TRUNCATE":
		return true
	}
	return false
}

// harmless recognises, by their leading keywords, statements that change
// no table's rows or name but that the parser may not read (MariaDB
// syntax): maintenance, accounts and privileges, stored programs, views,
// triggers, XA and savepoints.
func harmless(query string) bool {
	var words []string
	schemaIdentifiers(query, 12, func(w string) { words = append(words, strings.ToUpper(w)) })
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "SET":
		// SET PASSWORD, SET DEFAULT ROLE; not SET STATEMENT ... FOR <statement>.
		return len(words) > 1 && words[1] != "STATEMENT"
	case "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM", "GRANT", "REVOKE", "FLUSH", "XA", "SAVEPOINT",
		"RELEASE", "ROLLBACK", "INSTALL", "UNINSTALL":
		return true
	case "CREATE", "DROP", "ALTER", "RENAME":
		for _, w := range words[1:] {
			switch w {
			case "TABLE", "TABLES", "DATABASE", "SCHEMA", "INDEX", "SEQUENCE":
				return false
			case "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT", "VIEW", "PACKAGE", "USER", "ROLE", "SERVER":
				return true
			}
		}
	}
	return false
}

// schemaIdentifiers passes the first n bare words of a statement to f,
// skipping comments, quoted names and strings.
func schemaIdentifiers(q string, n int, f func(string)) {
	for i := 0; i < len(q) && n > 0; {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return
			}
			i += j + 2
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i:], "*/")
			if j < 0 {
				return
			}
			i += j + 2
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i
			for j < len(q) && (q[j] >= 'A' && q[j] <= 'Z' || q[j] >= 'a' && q[j] <= 'z' || q[j] == '_') {
				j++
			}
			f(q[i:j])
			n--
			i = j
		default:
			i++
		}
	}
}
