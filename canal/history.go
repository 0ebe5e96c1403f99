package canal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pingcap/tidb/pkg/parser/ast"
	tidbmysql "github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/binflow/binflow/schema"
)

// Schema history: the definition of each table at the reader's position,
// for the table maps that do not carry it (binlog_row_metadata is not FULL,
// or a 16-byte binary column that may be INET6 or UUID).
//
// The rule that keeps it exact, without storing anything:
//
//   - A table's definition at binlog position X is read from
//     information_schema, followed by the binlog's end E (SHOW MASTER
//     STATUS). If no statement in the binlog between X and E touches the
//     table, the definition read is the one at X. (A DDL statement is
//     written to the binlog before it releases its metadata lock, and
//     information_schema waits for that lock, so a change visible in
//     information_schema is already in the binlog before E.) Statements
//     that provably change no column nor the primary key (ALTER TABLE ADD
//     or DROP INDEX/KEY other than the primary key, foreign keys, checks,
//     column defaults, table options, partitioning: classifyAlterSpec) do
//     not count. A FULL table map takes from the definition only the types
//     of its 16-byte binary columns, which it names: for it only a
//     statement naming one of those columns (ADD, DROP, MODIFY, CHANGE,
//     RENAME COLUMN), renaming, dropping or creating the table, or one
//     binflow cannot parse counts, and the definition is kept as exact
//     for those columns only (partial). If one counts, binflow cannot tell
//     the columns at X and stops, naming the statement.
//   - From there on, every statement the reader passes is applied to the
//     definitions it knows (CREATE TABLE [LIKE], ALTER TABLE ADD, DROP,
//     MODIFY, CHANGE and RENAME COLUMN with FIRST and AFTER, primary keys,
//     RENAME TABLE, DROP TABLE, DROP DATABASE). A statement it cannot apply
//     exactly (unparsable, CREATE TABLE ... SELECT, an ALTER clause it does
//     not model) makes it forget the table, which is read again by the
//     first rule when next needed.
//   - Every table map is checked against the definition (column count, and
//     each column's type): a mismatch stops the reader.
//
// A restart derives the same from its checkpoint: it costs reading the
// statements of the binlog between the checkpoint and the end (SHOW BINLOG
// EVENTS), and stops, rather than guess, when a table it must read was
// altered in between.

// upstreamSchemas is what the schema history reads from the upstream.
type upstreamSchemas interface {
	// Definition reads a table's definition now (nil if it does not
	// exist) and the binlog's end after reading it.
	Definition(ctx context.Context, table string) (*schema.TableDef, schema.Position, error)
	// Statements lists the statements logged as queries between two
	// positions.
	Statements(ctx context.Context, from, to schema.Position) ([]loggedStatement, error)
}

// loggedStatement is one statement (query event) of the binlog.
type loggedStatement struct {
	End           schema.Position // just after its event
	DefaultSchema string
	Query         string
}

// schemaHistory holds the table definitions known at the reader's position.
// One lives as long as a Stream call (across reconnects); not safe for
// concurrent use.
type schemaHistory struct {
	upstream upstreamSchemas
	ddl      DDLParser
	known    map[string]*schema.TableDef // "schema.table" -> definition at the reader's position
	// partial marks definitions known exact only for some columns: read
	// for a FULL table map past a statement that changed other columns, a
	// definition is exact for the 16-byte binary columns that map named
	// (listed here), which are all such a map takes from it.
	partial map[string][]string
	// ahead holds statements read beyond the reader's position while
	// checking definitions (scannedFrom to scannedTo), so that the next
	// check reads only what is new.
	ahead                  []loggedStatement
	scannedFrom, scannedTo schema.Position
}

func newSchemaHistory(up upstreamSchemas) *schemaHistory {
	return &schemaHistory{upstream: up, known: map[string]*schema.TableDef{}, partial: map[string][]string{}}
}

// learn sets a table's definition, exact for every column.
func (h *schemaHistory) learn(table string, def *schema.TableDef) {
	h.known[table] = def
	delete(h.partial, table)
}

// forget drops a table's definition, to be read again when needed.
func (h *schemaHistory) forget(table string) {
	delete(h.known, table)
	delete(h.partial, table)
}

// move gives table from's definition to table to (RENAME).
func (h *schemaHistory) move(from, to string) {
	def, ok := h.known[from]
	cols, partial := h.partial[from]
	h.forget(from)
	h.forget(to)
	if ok {
		h.known[to] = def
		if partial {
			h.partial[to] = cols
		}
	}
}

// binary16Names are the names of a FULL table map's 16-byte binary
// columns (nil for a map without names).
func binary16Names(tm *replication.TableMapEvent) []string {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil
	}
	var out []string
	for _, i := range schema.FixedBinary16Columns(tm) {
		out = append(out, names[i])
	}
	return out
}

// needed reports whether a table map lacks what only a definition gives.
func (h *schemaHistory) needed(tm *replication.TableMapEvent) bool {
	return len(tm.ColumnName) != int(tm.ColumnCount) || schema.HasFixedBinary16(tm)
}

// table builds the schema of a table map at position at (where its event
// starts) from the map and the table's definition there.
func (h *schemaHistory) table(ctx context.Context, at schema.Position, tm *replication.TableMapEvent) (*schema.Table, error) {
	name := string(tm.Schema) + "." + string(tm.Table)
	var only []string
	if len(tm.ColumnName) == int(tm.ColumnCount) {
		// The map names every column: only its 16-byte binary columns
		// (BINARY(16), INET6 or UUID) are taken from the definition.
		if only = binary16Names(tm); len(only) == 0 {
			return schema.TableFromMap(tm)
		}
	}
	def, err := h.definition(ctx, name, at, only)
	if err != nil {
		why := "binlog_row_metadata is not FULL, so the binlog does not name the columns"
		if len(tm.ColumnName) == int(tm.ColumnCount) {
			why = "the binlog does not tell a BINARY(16) column from MariaDB's INET6 or UUID"
		}
		return nil, fmt.Errorf("table %s: %s, and %w", name, why, err)
	}
	return schema.TableFromMapAndDef(tm, def)
}

// definition returns a table's definition at position at, reading it from
// the upstream when the history does not know it. only, when not nil,
// names the columns whose types must be exact (a FULL table map's 16-byte
// binary columns, the only part of the definition such a map takes):
// statements that changed other columns between the position and the read
// do not matter then. nil asks for the whole definition.
func (h *schemaHistory) definition(ctx context.Context, table string, at schema.Position, only []string) (*schema.TableDef, error) {
	if def, ok := h.known[table]; ok {
		cols, partial := h.partial[table]
		if !partial || only != nil && containsAllFold(cols, only) {
			return def, nil
		}
	}
	if h.upstream == nil {
		return nil, fmt.Errorf("binflow has no schema history of it (set binlog_row_metadata=FULL on the upstream)")
	}
	def, end, err := h.upstream.Definition(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("reading its definition from the upstream: %w", err)
	}
	if def == nil {
		return nil, fmt.Errorf("it no longer exists upstream, so binflow cannot tell its columns at binlog %s: "+
			"set binlog_row_metadata=FULL on the upstream, or start the flows after the table was dropped", at)
	}
	stmts, err := h.statements(ctx, at, end)
	if err != nil {
		return nil, err
	}
	exact := true // for every column, not only those asked for
	for _, st := range stmts {
		if !h.touches(st, table) {
			continue
		}
		exact = false
		if !h.mayChange(st, table, only) {
			continue
		}
		if only != nil {
			which := "column " + only[0] + " is"
			if len(only) > 1 {
				which = "columns " + strings.Join(only, ", ") + " are"
			}
			return nil, fmt.Errorf("binflow cannot tell whether %s BINARY(16), INET6 or UUID at binlog %s: "+
				"the statement %.200q at %s may have changed that before binflow read the types from information_schema (at %s). "+
				"Rebuild the flows reading it from a snapshot (`binflow rebuild`)", which, at, st.Query, st.End, end)
		}
		return nil, fmt.Errorf("binflow cannot tell its columns at binlog %s: the statement %.200q at %s changed it before binflow read its definition "+
			"from information_schema (at %s). Set binlog_row_metadata=FULL on the upstream (it applies to binlog written after), "+
			"or rebuild the flows reading it from a snapshot (`binflow rebuild`)", at, st.Query, st.End, end)
	}
	h.learn(table, def)
	if !exact {
		h.partial[table] = append([]string(nil), only...)
	}
	return def, nil
}

func containsAllFold(set, names []string) bool {
	for _, n := range names {
		if !slices.ContainsFunc(set, func(s string) bool { return strings.EqualFold(s, n) }) {
			return false
		}
	}
	return true
}

// statements returns the statements between from and to, reading only
// those the history has not read ahead already.
func (h *schemaHistory) statements(ctx context.Context, from, to schema.Position) ([]loggedStatement, error) {
	if h.scannedTo.IsZero() || from.Compare(h.scannedFrom) < 0 || from.Compare(h.scannedTo) > 0 {
		h.ahead, h.scannedFrom, h.scannedTo = nil, from, from
	}
	if to.Compare(h.scannedTo) > 0 {
		more, err := h.upstream.Statements(ctx, h.scannedTo, to)
		if err != nil {
			return nil, fmt.Errorf("reading the statements of the binlog from %s to %s: %w", h.scannedTo, to, err)
		}
		h.ahead, h.scannedTo = append(h.ahead, more...), to
	}
	var out []loggedStatement
	for _, st := range h.ahead {
		if st.End.Compare(from) > 0 && st.End.Compare(to) <= 0 {
			out = append(out, st)
		}
	}
	return out, nil
}

// touches reports whether a statement may change a table's columns,
// primary key or identity; a statement binflow cannot parse touches every
// table it names.
func (h *schemaHistory) touches(st loggedStatement, table string) bool {
	stmts, replace, err := h.ddl.parse(st.Query)
	if err != nil {
		return schema.MentionsTable(st.Query, table)
	}
	for _, stmt := range stmts {
		if stmtTouches(st.DefaultSchema, stmt, replace, table) {
			return true
		}
	}
	return false
}

// stmtTouches is touches for one parsed statement.
func stmtTouches(defaultSchema string, stmt ast.StmtNode, replace bool, table string) bool {
	switch s := stmt.(type) {
	case *ast.AlterTableStmt:
		if qualified(defaultSchema, s.Table) == table {
			// Indexes, options, partitions change no column.
			return !alterKeepsDefinition(s)
		}
	case *ast.DropIndexStmt:
		// DROP INDEX `PRIMARY` ON t drops the primary key.
		return qualified(defaultSchema, s.Table) == table && strings.EqualFold(s.IndexName, "PRIMARY")
	}
	for _, c := range stmtChanges(defaultSchema, stmt, replace) {
		if c.Affects(table) && c.Kind != schema.ChangeTruncate && c.Kind != schema.ChangeRows {
			return true
		}
	}
	return false
}

// mayChange reports whether a statement that touches a table may have
// changed what of its definition is asked for: all of it (only nil), or
// the types of the named columns, which only a statement naming one of
// them, renaming, dropping or creating the table, or one binflow cannot
// parse may change.
func (h *schemaHistory) mayChange(st loggedStatement, table string, only []string) bool {
	if only == nil {
		return true
	}
	stmts, replace, err := h.ddl.parse(st.Query)
	if err != nil {
		return true
	}
	for _, stmt := range stmts {
		switch s := stmt.(type) {
		case *ast.AlterTableStmt:
			if qualified(st.DefaultSchema, s.Table) == table {
				if alterMayRetype(s, only) {
					return true
				}
				continue
			}
		case *ast.DropIndexStmt:
			continue // the primary key at most, which a FULL map carries
		}
		if stmtTouches(st.DefaultSchema, stmt, replace, table) {
			return true
		}
	}
	return false
}

// statement applies a statement the reader passed (its event ends at end)
// to the definitions the history knows.
func (h *schemaHistory) statement(ctx context.Context, end schema.Position, defaultSchema, query string) error {
	// What was read ahead up to here is behind the reader now.
	kept := h.ahead[:0]
	for _, st := range h.ahead {
		if st.End.Compare(end) > 0 {
			kept = append(kept, st)
		}
	}
	h.ahead = kept
	if len(h.known) == 0 {
		// Nothing known: a CREATE TABLE could teach something, so parse on.
		if !strings.Contains(strings.ToUpper(query), "CREATE") {
			return nil
		}
	}
	stmts, replace, err := h.ddl.parse(query)
	if err != nil {
		for t := range h.known {
			if schema.MentionsTable(query, t) {
				h.forget(t) // read again from information_schema when needed
			}
		}
		return nil
	}
	for _, stmt := range stmts {
		if err := h.apply(ctx, end, defaultSchema, stmt, replace); err != nil {
			return err
		}
	}
	return nil
}

func (h *schemaHistory) apply(ctx context.Context, end schema.Position, defaultSchema string, stmt ast.StmtNode, replace bool) error {
	name := func(t *ast.TableName) string { return qualified(defaultSchema, t) }
	switch s := stmt.(type) {
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return nil // temporary tables have no row events
		}
		table := name(s.Table)
		switch {
		case s.IfNotExists && !replace:
			// It may have existed, with other columns.
			h.forget(table)
		case s.ReferTable != nil:
			// The source's definition just before this statement.
			like, err := h.definition(ctx, name(s.ReferTable), end, nil)
			if err != nil {
				// Read from information_schema when needed instead.
				h.forget(table)
				return nil
			}
			h.learn(table, like.Clone())
		case s.Select != nil:
			h.forget(table) // columns from a query: not modelled
		default:
			def, ok := definitionOf(s.Cols, s.Constraints)
			if !ok {
				h.forget(table)
				return nil
			}
			h.learn(table, def)
		}
	case *ast.DropTableStmt:
		if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		for _, t := range s.Tables {
			h.forget(name(t))
		}
	case *ast.DropDatabaseStmt:
		for t := range h.known {
			if strings.HasPrefix(t, s.Name.O+".") {
				h.forget(t)
			}
		}
	case *ast.RenameTableStmt:
		// In order: RENAME TABLE a TO b, b TO a swaps.
		for _, tt := range s.TableToTables {
			h.move(name(tt.OldTable), name(tt.NewTable))
		}
	case *ast.DropIndexStmt:
		table := name(s.Table)
		if def, ok := h.known[table]; ok && strings.EqualFold(s.IndexName, "PRIMARY") {
			next := def.Clone()
			next.PrimaryKey = nil
			h.known[table] = next
		}
	case *ast.AlterTableStmt:
		table := name(s.Table)
		def, ok := h.known[table]
		if !ok {
			return nil
		}
		cols, partial := h.partial[table]
		if partial && alterChangesColumns(s) {
			// Exact only for some columns, the others may be off: an
			// ALTER of columns (a rename, say) could bring one of those
			// under a name it trusts. Read again when needed.
			h.forget(table)
			return nil
		}
		next, renamed, exact := alterDefinition(def, s, name)
		h.forget(table)
		if !exact {
			return nil
		}
		if renamed != "" {
			table = renamed
		}
		h.learn(table, next)
		if partial {
			h.partial[table] = cols
		}
	}
	return nil
}

// alterChangesColumns reports whether an ALTER TABLE may add, drop,
// redefine or rename a column.
func alterChangesColumns(s *ast.AlterTableStmt) bool {
	for _, spec := range s.Specs {
		switch effect, _ := classifyAlterSpec(spec); effect {
		case alterColumns, alterUnknown:
			return true
		}
	}
	return false
}

// alterDefinition applies an ALTER TABLE to a definition. exact is false
// when the statement does something to columns binflow does not model.
func alterDefinition(def *schema.TableDef, s *ast.AlterTableStmt, name func(*ast.TableName) string) (next *schema.TableDef, renamedTo string, exact bool) {
	next = def.Clone()
	for _, spec := range s.Specs {
		switch spec.Tp {
		case ast.AlterTableAddColumns:
			if len(spec.NewConstraints) > 0 {
				return nil, "", false
			}
			pos := spec.Position
			for _, col := range spec.NewColumns {
				if next.ColumnIndex(col.Name.Name.O) >= 0 {
					if spec.IfNotExists {
						continue
					}
					return nil, "", false // the server would have refused it
				}
				c, ok := columnOf(col)
				if !ok || !insertColumn(next, c, pos) {
					return nil, "", false
				}
				if hasPrimaryKeyOption(col) {
					next.PrimaryKey = []string{c.Name}
				}
				if pos != nil && pos.Tp == ast.ColumnPositionFirst {
					// ADD (a, b) FIRST is not valid SQL; keep a, b in order.
					pos = &ast.ColumnPosition{Tp: ast.ColumnPositionAfter, RelativeColumn: &ast.ColumnName{Name: col.Name.Name}}
				}
			}
		case ast.AlterTableDropColumn:
			i := next.ColumnIndex(spec.OldColumnName.Name.O)
			if i < 0 {
				if spec.IfExists {
					continue
				}
				return nil, "", false
			}
			dropped := next.Columns[i].Name
			next.Columns = append(next.Columns[:i], next.Columns[i+1:]...)
			next.PrimaryKey = slicesDeleteFold(next.PrimaryKey, dropped)
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			old := ""
			if spec.Tp == ast.AlterTableChangeColumn {
				old = spec.OldColumnName.Name.O
			} else if len(spec.NewColumns) == 1 {
				old = spec.NewColumns[0].Name.Name.O
			}
			i := next.ColumnIndex(old)
			if len(spec.NewColumns) != 1 || i < 0 {
				if i < 0 && spec.IfExists {
					continue
				}
				return nil, "", false
			}
			c, ok := columnOf(spec.NewColumns[0])
			if !ok {
				return nil, "", false
			}
			oldName := next.Columns[i].Name
			renamePrimaryKey(next, oldName, c.Name)
			if spec.Position == nil || spec.Position.Tp == ast.ColumnPositionNone {
				next.Columns[i] = c
				continue
			}
			next.Columns = append(next.Columns[:i], next.Columns[i+1:]...)
			if !insertColumn(next, c, spec.Position) {
				return nil, "", false
			}
		case ast.AlterTableRenameColumn:
			i := next.ColumnIndex(spec.OldColumnName.Name.O)
			if i < 0 {
				return nil, "", false
			}
			renamePrimaryKey(next, next.Columns[i].Name, spec.NewColumnName.Name.O)
			next.Columns[i].Name = spec.NewColumnName.Name.O
		case ast.AlterTableAddConstraint:
			if spec.Constraint != nil && spec.Constraint.Tp == ast.ConstraintPrimaryKey {
				next.PrimaryKey = keyColumns(spec.Constraint)
			}
		case ast.AlterTableDropPrimaryKey:
			next.PrimaryKey = nil
		case ast.AlterTableDropIndex:
			if strings.EqualFold(spec.Name, "PRIMARY") {
				next.PrimaryKey = nil // DROP INDEX `PRIMARY`
			}
		case ast.AlterTableRenameTable:
			if spec.NewTable != nil {
				renamedTo = name(spec.NewTable)
			}
		case ast.AlterTableOption, ast.AlterTableDropForeignKey, ast.AlterTableAlterColumn,
			ast.AlterTableLock, ast.AlterTableAlgorithm, ast.AlterTableRenameIndex, ast.AlterTableForce,
			ast.AlterTableIndexInvisible, ast.AlterTableOrderByColumns, ast.AlterTableAlterCheck, ast.AlterTableDropCheck,
			ast.AlterTableEnableKeys, ast.AlterTableDisableKeys, ast.AlterTableWithValidation, ast.AlterTableWithoutValidation,
			ast.AlterTableAddPartitions, ast.AlterTableCoalescePartitions, ast.AlterTableDropPartition, ast.AlterTableTruncatePartition,
			ast.AlterTablePartition, ast.AlterTableRemovePartitioning, ast.AlterTableRebuildPartition, ast.AlterTableReorganizePartition,
			ast.AlterTableCheckPartitions, ast.AlterTableExchangePartition, ast.AlterTableOptimizePartition, ast.AlterTableRepairPartition,
			ast.AlterTableImportTablespace, ast.AlterTableDiscardTablespace, ast.AlterTableImportPartitionTablespace,
			ast.AlterTableDiscardPartitionTablespace, ast.AlterTableDropFirstPartition:
			// Indexes, options, partitions, rows: not the columns.
			// (CONVERT TO CHARACTER SET changes charsets, which every
			// table map carries itself.)
		default:
			return nil, "", false
		}
	}
	return next, renamedTo, true
}

// insertColumn puts c where pos says (at the end without one).
func insertColumn(def *schema.TableDef, c schema.ColumnDef, pos *ast.ColumnPosition) bool {
	at := len(def.Columns)
	if pos != nil {
		switch pos.Tp {
		case ast.ColumnPositionFirst:
			at = 0
		case ast.ColumnPositionAfter:
			i := def.ColumnIndex(pos.RelativeColumn.Name.O)
			if i < 0 {
				return false
			}
			at = i + 1
		}
	}
	def.Columns = append(def.Columns, schema.ColumnDef{})
	copy(def.Columns[at+1:], def.Columns[at:])
	def.Columns[at] = c
	return true
}

func renamePrimaryKey(def *schema.TableDef, from, to string) {
	for i, k := range def.PrimaryKey {
		if strings.EqualFold(k, from) {
			def.PrimaryKey[i] = to
		}
	}
}

func slicesDeleteFold(names []string, name string) []string {
	out := names[:0]
	for _, n := range names {
		if !strings.EqualFold(n, name) {
			out = append(out, n)
		}
	}
	return out
}

// definitionOf is the definition of CREATE TABLE's column list; ok is
// false when a column's type is not one binflow models.
func definitionOf(cols []*ast.ColumnDef, constraints []*ast.Constraint) (*schema.TableDef, bool) {
	def := &schema.TableDef{}
	for _, col := range cols {
		c, ok := columnOf(col)
		if !ok {
			return nil, false
		}
		def.Columns = append(def.Columns, c)
		if hasPrimaryKeyOption(col) {
			def.PrimaryKey = []string{c.Name}
		}
	}
	for _, con := range constraints {
		if con.Tp == ast.ConstraintPrimaryKey {
			def.PrimaryKey = keyColumns(con)
		}
	}
	return def, len(def.Columns) > 0
}

func keyColumns(con *ast.Constraint) []string {
	var names []string
	for _, k := range con.Keys {
		if k.Column != nil {
			names = append(names, k.Column.Name.O)
		}
	}
	return names
}

func hasPrimaryKeyOption(col *ast.ColumnDef) bool {
	for _, o := range col.Options {
		if o.Tp == ast.ColumnOptionPrimaryKey {
			return true
		}
	}
	return false
}

// columnOf is the definition of one column of a DDL statement.
func columnOf(col *ast.ColumnDef) (schema.ColumnDef, bool) {
	if col.Tp == nil {
		return schema.ColumnDef{}, false
	}
	tp := col.Tp
	c := schema.ColumnDef{Name: col.Name.Name.O, Type: tp.GetType(), Unsigned: tidbmysql.HasUnsignedFlag(tp.GetFlag())}
	switch c.Type {
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		c.Values = append([]string(nil), tp.GetElems()...)
	case mysql.MYSQL_TYPE_NULL:
		return c, false
	}
	return c, true
}

// upstreamConnection opens its SQL connection to the upstream on first
// use: upstreams whose table maps carry everything never need one.
type upstreamConnection struct {
	opts Options
	db   *sql.DB
}

func (u *upstreamConnection) conn(ctx context.Context) (sqlSchemas, error) {
	if u.db == nil {
		db, err := OpenDB(ctx, u.opts)
		if err != nil {
			return sqlSchemas{}, err
		}
		u.db = db
	}
	return sqlSchemas{u.db}, nil
}

func (u *upstreamConnection) Definition(ctx context.Context, table string) (*schema.TableDef, schema.Position, error) {
	s, err := u.conn(ctx)
	if err != nil {
		return nil, schema.Position{}, queryError(err)
	}
	def, at, err := s.Definition(ctx, table)
	return def, at, queryError(err)
}

func (u *upstreamConnection) Statements(ctx context.Context, from, to schema.Position) ([]loggedStatement, error) {
	s, err := u.conn(ctx)
	if err != nil {
		return nil, queryError(err)
	}
	stmts, err := s.Statements(ctx, from, to)
	return stmts, queryError(err)
}

// transientQueryError marks a failed upstream query of the schema history
// that may succeed later (the connection lost, the server restarting): the
// reader reconnects and reads the transaction again rather than stop.
type transientQueryError struct{ err error }

func (e *transientQueryError) Error() string { return e.err.Error() }
func (e *transientQueryError) Unwrap() error { return e.err }

func queryError(err error) error {
	if err != nil && Transient(err) {
		return &transientQueryError{err}
	}
	return err
}

func (u *upstreamConnection) close() {
	if u.db != nil {
		u.db.Close()
	}
}

// sqlSchemas reads definitions and statements over a SQL connection to
// the upstream.
type sqlSchemas struct{ db *sql.DB }

func (s sqlSchemas) Definition(ctx context.Context, table string) (*schema.TableDef, schema.Position, error) {
	dbName, tableName, ok := splitTable(table)
	if !ok {
		return nil, schema.Position{}, fmt.Errorf("table %q: expected schema.table", table)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", dbName, tableName)
	if err != nil {
		return nil, schema.Position{}, fmt.Errorf("columns of %s: %w", table, err)
	}
	def := &schema.TableDef{}
	for rows.Next() {
		var name, dataType, columnType string
		if err := rows.Scan(&name, &dataType, &columnType); err != nil {
			rows.Close()
			return nil, schema.Position{}, fmt.Errorf("columns of %s: %w", table, err)
		}
		c, err := columnFromInformationSchema(name, dataType, columnType)
		if err != nil {
			rows.Close()
			return nil, schema.Position{}, fmt.Errorf("table %s: %w", table, err)
		}
		def.Columns = append(def.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, schema.Position{}, fmt.Errorf("columns of %s: %w", table, err)
	}
	if len(def.Columns) > 0 {
		if def.PrimaryKey, err = s.primaryKey(ctx, dbName, tableName); err != nil {
			return nil, schema.Position{}, fmt.Errorf("primary key of %s: %w", table, err)
		}
	} else {
		def = nil
	}
	end, err := binlogEnd(ctx, s.db)
	return def, end, err
}

func (s sqlSchemas) primaryKey(ctx context.Context, dbName, tableName string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.STATISTICS "+
		"WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX", dbName, tableName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// columnFromInformationSchema reads one row of information_schema.COLUMNS.
func columnFromInformationSchema(name, dataType, columnType string) (schema.ColumnDef, error) {
	code, format, ok := schema.TypeCode(dataType)
	if !ok {
		return schema.ColumnDef{}, fmt.Errorf("column %s has data type %q, which binflow does not know", name, dataType)
	}
	c := schema.ColumnDef{Name: name, Type: code, Format: format,
		Unsigned: strings.Contains(strings.ToLower(columnType), " unsigned")}
	switch dt := strings.ToLower(dataType); dt {
	case "enum", "set":
		vals, err := quotedList(columnType[len(dt):])
		if err != nil {
			return c, fmt.Errorf("column %s: values of %q: %w", name, columnType, err)
		}
		c.Values = vals
	}
	return c, nil
}

// quotedList reads "('a','b”c')", as information_schema writes ENUM and
// SET values (a quote doubled, backslashes as they are).
func quotedList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("not a parenthesised list")
	}
	s = s[1 : len(s)-1]
	var out []string
	for i := 0; i < len(s); {
		if s[i] != '\'' {
			return nil, fmt.Errorf("expected a quote at %d", i)
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(s); j++ {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j++
					continue
				}
				break
			}
			b.WriteByte(s[j])
		}
		if j >= len(s) {
			return nil, fmt.Errorf("unterminated value")
		}
		out = append(out, b.String())
		i = j + 1
		if i < len(s) {
			if s[i] != ',' {
				return nil, fmt.Errorf("expected a comma at %d", i)
			}
			i++
		}
	}
	return out, nil
}

// showBinlogEventsPage bounds the rows of one SHOW BINLOG EVENTS.
const showBinlogEventsPage = 5000

// Statements pages through SHOW BINLOG EVENTS (REPLICATION CLIENT, or
// BINLOG MONITOR on MariaDB) from one position to another, keeping the
// query events.
func (s sqlSchemas) Statements(ctx context.Context, from, to schema.Position) ([]loggedStatement, error) {
	logs, err := BinaryLogs(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []loggedStatement
	file, pos := from.File, from.Pos
	for {
		if !logs.Has(file) {
			return nil, fmt.Errorf("binlog %s is no longer on the upstream", file)
		}
		q := fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT %d", strings.ReplaceAll(file, "'", "''"), pos, showBinlogEventsPage)
		n, next, done, err := s.statementsPage(ctx, q, file, to, &out)
		if err != nil {
			return nil, err
		}
		if done {
			return out, nil
		}
		if n == showBinlogEventsPage {
			pos = next
			continue
		}
		// The end of file: on to the next one.
		nextFile := ""
		for i, l := range logs {
			if l.Name == file && i+1 < len(logs) {
				nextFile = logs[i+1].Name
			}
		}
		if nextFile == "" || file == to.File {
			return out, nil
		}
		file, pos = nextFile, 4
	}
}

func (s sqlSchemas) statementsPage(ctx context.Context, q, file string, to schema.Position, out *[]loggedStatement) (n int, next uint32, done bool, err error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		// Log_name, Pos, Event_type, Server_id, End_log_pos, Info
		var logName, eventType, info string
		var start, serverID, end uint64
		if err := rows.Scan(&logName, &start, &eventType, &serverID, &end, &info); err != nil {
			return 0, 0, false, fmt.Errorf("%s: %w", q, err)
		}
		n++
		next = uint32(end)
		if (schema.Position{File: file, Pos: uint32(start)}).Compare(to) >= 0 {
			return n, next, true, nil
		}
		if eventType != "Query" && eventType != "Query_compressed" {
			continue
		}
		defaultSchema, query := splitUse(info)
		switch strings.ToUpper(query) {
		case "BEGIN", "COMMIT", "ROLLBACK":
			continue
		}
		*out = append(*out, loggedStatement{End: schema.Position{File: file, Pos: uint32(end)}, DefaultSchema: defaultSchema, Query: query})
	}
	return n, next, false, rows.Err()
}

// splitUse splits SHOW BINLOG EVENTS' "use `db`; query" into its parts.
func splitUse(info string) (string, string) {
	if !strings.HasPrefix(info, "use `") {
		return "", info
	}
	var b strings.Builder
	for i := len("use `"); i < len(info); i++ {
		if info[i] == '`' {
			if i+1 < len(info) && info[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), strings.TrimPrefix(info[i+1:], "; ")
		}
		b.WriteByte(info[i])
	}
	return "", info
}

// binlogEnd is the upstream's binlog end (SHOW MASTER STATUS).
func binlogEnd(ctx context.Context, db *sql.DB) (schema.Position, error) {
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return schema.Position{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return schema.Position{}, err
	}
	if !rows.Next() {
		return schema.Position{}, errors.New("SHOW MASTER STATUS returned nothing: binary logging is off on the upstream (set log_bin)")
	}
	vals := make([]any, len(cols))
	var file string
	var pos uint32
	vals[0], vals[1] = &file, &pos
	for i := 2; i < len(cols); i++ {
		vals[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(vals...); err != nil {
		return schema.Position{}, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	return schema.Position{File: file, Pos: pos}, rows.Err()
}

// BinlogEnd is the binlog end (SHOW MASTER STATUS) of the server db
// reaches.
func BinlogEnd(ctx context.Context, db *sql.DB) (schema.Position, error) { return binlogEnd(ctx, db) }
