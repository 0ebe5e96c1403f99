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
	var out []TableChange
	for _, stmt := range stmts {
		out = append(out, stmtChanges(defaultSchema, stmt, replace)...)
	}
	return out, nil
}

// stmtChanges lists the table changes of one parsed statement (replace:
// it was CREATE OR REPLACE TABLE).
func stmtChanges(defaultSchema string, stmt ast.StmtNode, replace bool) []TableChange {
	name := func(t *ast.TableName) string { return qualified(defaultSchema, t) }
	var out []TableChange
	switch s := stmt.(type) {
	case *ast.TruncateTableStmt:
		out = append(out, TableChange{Kind: schema.ChangeTruncate, Table: name(s.Table)})
	case *ast.DropTableStmt:
		if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
			return nil // a temporary table shadows, never drops, the real one
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
			return nil
		}
		if replace {
			out = append(out, TableChange{Kind: schema.ChangeDrop, Table: name(s.Table)})
		}
		out = append(out, TableChange{Kind: schema.ChangeCreate, Table: name(s.Table)})
	}
	return out
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

// alterEffect is what one ALTER TABLE clause may do to the table's
// definition as the schema history keeps it (schema.TableDef: the columns,
// their types and ENUM/SET values, the primary key).
type alterEffect int

const (
	// alterKeeps leaves the definition as it is: indexes and keys other
	// than the primary key, foreign keys, checks, column defaults, table
	// options that change no column, partitioning, ALGORITHM, LOCK, FORCE.
	alterKeeps alterEffect = iota
	// alterColumns adds, drops, redefines or renames the columns it names,
	// and no other.
	alterColumns
	// alterCharsets converts every character column (CONVERT TO CHARACTER
	// SET); binary columns, INET6 and UUID are left alone.
	alterCharsets
	// alterPrimaryKey changes the primary key, no column.
	alterPrimaryKey
	// alterRename renames the table.
	alterRename
	// alterUnknown is anything else: it may change any column.
	alterUnknown
)

// classifyAlterSpec says what an ALTER TABLE clause may do to the table's
// definition, and for alterColumns the names of the columns it adds, drops,
// redefines or renames (old and new names; not those it only places a
// column after). What it does not know is alterUnknown.
func classifyAlterSpec(spec *ast.AlterTableSpec) (alterEffect, []string) {
	switch spec.Tp {
	case ast.AlterTableAddColumns:
		var names []string
		for _, c := range spec.NewColumns {
			if c == nil || c.Name == nil {
				return alterUnknown, nil
			}
			names = append(names, c.Name.Name.O)
		}
		if len(names) == 0 {
			return alterUnknown, nil
		}
		return alterColumns, names
	case ast.AlterTableDropColumn:
		if spec.OldColumnName == nil {
			return alterUnknown, nil
		}
		return alterColumns, []string{spec.OldColumnName.Name.O}
	case ast.AlterTableModifyColumn:
		if len(spec.NewColumns) != 1 || spec.NewColumns[0].Name == nil {
			return alterUnknown, nil
		}
		return alterColumns, []string{spec.NewColumns[0].Name.Name.O}
	case ast.AlterTableChangeColumn:
		if spec.OldColumnName == nil || len(spec.NewColumns) != 1 || spec.NewColumns[0].Name == nil {
			return alterUnknown, nil
		}
		return alterColumns, []string{spec.OldColumnName.Name.O, spec.NewColumns[0].Name.Name.O}
	case ast.AlterTableRenameColumn:
		if spec.OldColumnName == nil || spec.NewColumnName == nil {
			return alterUnknown, nil
		}
		return alterColumns, []string{spec.OldColumnName.Name.O, spec.NewColumnName.Name.O}
	case ast.AlterTableRenameTable:
		return alterRename, nil
	case ast.AlterTableAddConstraint:
		c := spec.Constraint
		if c == nil {
			return alterUnknown, nil
		}
		for _, k := range c.Keys {
			if k == nil || k.Expr != nil {
				// A functional key part is a hidden generated column
				// (MySQL 8).
				return alterUnknown, nil
			}
		}
		switch c.Tp {
		case ast.ConstraintPrimaryKey:
			return alterPrimaryKey, nil
		case ast.ConstraintKey, ast.ConstraintIndex, ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex,
			ast.ConstraintFulltext, ast.ConstraintForeignKey, ast.ConstraintCheck:
			return alterKeeps, nil
		}
		return alterUnknown, nil
	case ast.AlterTableDropPrimaryKey:
		return alterPrimaryKey, nil
	case ast.AlterTableDropIndex:
		if strings.EqualFold(spec.Name, "PRIMARY") {
			return alterPrimaryKey, nil // DROP INDEX `PRIMARY`
		}
		return alterKeeps, nil
	case ast.AlterTableOption:
		effect := alterKeeps
		for _, o := range spec.Options {
			switch {
			case o == nil:
				return alterUnknown, nil
			case o.Tp == ast.TableOptionCharset && o.UintValue == ast.TableOptionCharsetWithConvertTo:
				effect = alterCharsets
			case !optionKeepsColumns[o.Tp]:
				return alterUnknown, nil
			}
		}
		return effect, nil
	case ast.AlterTableAlterColumn, // SET DEFAULT, DROP DEFAULT
		ast.AlterTableDropForeignKey, ast.AlterTableAlterCheck, ast.AlterTableDropCheck,
		ast.AlterTableRenameIndex, ast.AlterTableIndexInvisible,
		ast.AlterTableLock, ast.AlterTableAlgorithm, ast.AlterTableForce,
		ast.AlterTableEnableKeys, ast.AlterTableDisableKeys, ast.AlterTableOrderByColumns,
		ast.AlterTableWithValidation, ast.AlterTableWithoutValidation,
		ast.AlterTableAddPartitions, ast.AlterTableCoalescePartitions, ast.AlterTableDropPartition,
		ast.AlterTableTruncatePartition, ast.AlterTablePartition, ast.AlterTableRemovePartitioning,
		ast.AlterTableRebuildPartition, ast.AlterTableReorganizePartition, ast.AlterTableCheckPartitions,
		ast.AlterTableExchangePartition, ast.AlterTableOptimizePartition, ast.AlterTableRepairPartition,
		ast.AlterTableImportTablespace, ast.AlterTableDiscardTablespace,
		ast.AlterTableImportPartitionTablespace, ast.AlterTableDiscardPartitionTablespace,
		ast.AlterTableDropFirstPartition:
		return alterKeeps, nil
	}
	return alterUnknown, nil
}

// optionKeepsColumns are the MySQL and MariaDB table options that change
// no column. CHARACTER SET and COLLATE without CONVERT TO set the default
// for columns added later only.
var optionKeepsColumns = map[ast.TableOptionType]bool{
	ast.TableOptionEngine: true, ast.TableOptionCharset: true, ast.TableOptionCollate: true,
	ast.TableOptionAutoIncrement: true, ast.TableOptionComment: true, ast.TableOptionAvgRowLength: true,
	ast.TableOptionCheckSum: true, ast.TableOptionTableCheckSum: true, ast.TableOptionCompression: true,
	ast.TableOptionConnection: true, ast.TableOptionPassword: true, ast.TableOptionKeyBlockSize: true,
	ast.TableOptionMaxRows: true, ast.TableOptionMinRows: true, ast.TableOptionDelayKeyWrite: true,
	ast.TableOptionRowFormat: true, ast.TableOptionStatsPersistent: true, ast.TableOptionStatsAutoRecalc: true,
	ast.TableOptionStatsSamplePages: true, ast.TableOptionPackKeys: true, ast.TableOptionTablespace: true,
	ast.TableOptionDataDirectory: true, ast.TableOptionIndexDirectory: true, ast.TableOptionInsertMethod: true,
	ast.TableOptionUnion: true, ast.TableOptionEncryption: true, ast.TableOptionAutoextendSize: true,
	ast.TableOptionPageChecksum: true, ast.TableOptionPageCompressed: true, ast.TableOptionPageCompressionLevel: true,
	ast.TableOptionTransactional: true, ast.TableOptionEngineAttribute: true,
}

// alterKeepsDefinition reports whether an ALTER TABLE provably leaves the
// whole definition as it was (every clause alterKeeps).
func alterKeepsDefinition(s *ast.AlterTableStmt) bool {
	for _, spec := range s.Specs {
		if effect, _ := classifyAlterSpec(spec); effect != alterKeeps {
			return false
		}
	}
	return true
}

// alterMayRetype reports whether an ALTER TABLE may change the type of one
// of the named columns, or which column bears one of those names: it names
// one of them (adds, drops, redefines or renames it), renames the table,
// or does something binflow does not classify. Converting charsets and
// changing the primary key retype no binary column.
func alterMayRetype(s *ast.AlterTableStmt, columns []string) bool {
	for _, spec := range s.Specs {
		effect, names := classifyAlterSpec(spec)
		switch effect {
		case alterKeeps, alterCharsets, alterPrimaryKey:
		case alterColumns:
			for _, n := range names {
				for _, c := range columns {
					if strings.EqualFold(n, c) {
						return true
					}
				}
			}
		default:
			return true
		}
	}
	return false
}
