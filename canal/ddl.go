package canal

import (
	"fmt"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DDL (defaults)
)

// TableChange is what one DDL statement does to one table, as flows need
// to know it: row events carry their own schema (binlog_row_metadata=FULL),
// but TRUNCATE, DROP and RENAME change a table's rows or identity without
// any row event, so a flow must react to them or stop.
type TableChange struct {
	Kind  string // "truncate", "drop", "rename", "alter", "create"
	Table string // "schema.table"
	// To is the new "schema.table" of a rename (also ALTER TABLE ... RENAME).
	To string
}

// DDLParser reads DDL statements. It is not safe for concurrent use: each
// binlog connection has its own.
type DDLParser struct{ p *parser.Parser }

// ParseDDL lists the table changes of a statement run with defaultSchema as
// its current database. Statements that are not DDL on tables give nothing;
// a statement the parser cannot read is an error (the caller decides whether
// that matters: it does only for statements that may touch a flow's tables).
func (d *DDLParser) ParseDDL(defaultSchema, query string) ([]TableChange, error) {
	if d.p == nil {
		d.p = parser.New()
	}
	stmts, _, err := d.p.Parse(query, "", "")
	if err != nil {
		return nil, fmt.Errorf("parse statement %.200q: %w", query, err)
	}
	name := func(t *ast.TableName) string {
		db := t.Schema.O
		if db == "" {
			db = defaultSchema
		}
		return db + "." + t.Name.O
	}
	var out []TableChange
	for _, stmt := range stmts {
		switch s := stmt.(type) {
		case *ast.TruncateTableStmt:
			out = append(out, TableChange{Kind: "truncate", Table: name(s.Table)})
		case *ast.DropTableStmt:
			if s.IsView {
				continue
			}
			for _, t := range s.Tables {
				out = append(out, TableChange{Kind: "drop", Table: name(t)})
			}
		case *ast.RenameTableStmt:
			for _, tt := range s.TableToTables {
				out = append(out, TableChange{Kind: "rename", Table: name(tt.OldTable), To: name(tt.NewTable)})
			}
		case *ast.AlterTableStmt:
			c := TableChange{Kind: "alter", Table: name(s.Table)}
			for _, spec := range s.Specs {
				if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
					c.Kind, c.To = "rename", name(spec.NewTable)
				}
			}
			out = append(out, c)
		case *ast.CreateTableStmt:
			out = append(out, TableChange{Kind: "create", Table: name(s.Table)})
		}
	}
	return out, nil
}
