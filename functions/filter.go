package functions

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema"
)

// Filter (KisFlow's verify mode) keeps the rows for which an expression is
// true. The expression (expr-lang/expr, compiled once per flow) sees every
// column by name. Each image is judged on its own, so a filtered flow stays
// exact under updates: an update whose row enters the filter becomes an
// insert downstream, one whose row leaves it becomes a delete.
//
// In expressions, DECIMAL values are float64 (comparisons and arithmetic
// there are approximate; sums in aggregates stay exact), []byte is a string,
// and NULL is nil.
type Filter struct {
	src     string
	program *vm.Program
	machine vm.VM
	env     map[string]any
	reads   []string // the columns the expression reads
	resolve resolver // their indexes per input layout
}

// NewFilter compiles src and checks that every name it reads is one of the
// input columns (column types are known only per row, so values are typed
// at run time).
func NewFilter(src string, input []string) (*Filter, error) {
	// A map[string]any environment lets the VM read variables without
	// reflection; names are checked against the input below.
	program, err := expr.Compile(src, expr.AsBool(), expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
	if err != nil {
		return nil, fmt.Errorf("filter expression %q: %w", src, err)
	}
	have := NewLayout(input)
	var reads []string
	seen := map[string]bool{}
	for _, name := range readNames(program.Node()) {
		if have.Index(name) < 0 {
			return nil, fmt.Errorf("filter expression %q: %w", src, &ColumnError{Function: "filter", Column: name})
		}
		if !seen[name] {
			seen[name] = true
			reads = append(reads, name)
		}
	}
	return &Filter{src: src, program: program, env: make(map[string]any, len(reads)), reads: reads,
		resolve: newResolver("filter", reads)}, nil
}

// readNames lists the variables an expression reads (function names
// excluded).
func readNames(node ast.Node) []string {
	v := &nameCollector{callees: map[ast.Node]bool{}}
	ast.Walk(&node, v)
	var names []string
	for _, n := range v.idents {
		if !v.callees[n] {
			names = append(names, n.Value)
		}
	}
	return names
}

type nameCollector struct {
	idents  []*ast.IdentifierNode
	callees map[ast.Node]bool
}

func (v *nameCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		v.idents = append(v.idents, n)
	case *ast.CallNode:
		v.callees[n.Callee] = true
	}
}

// Process passes, drops or turns the change into an insert or delete.
func (f *Filter) Process(c *Change, next Next) error {
	var before, after bool
	var err error
	if c.Before != nil {
		if before, err = f.keep(c, c.Before); err != nil {
			return err
		}
	}
	if c.After != nil {
		if after, err = f.keep(c, c.After); err != nil {
			return err
		}
	}
	switch {
	case before && after:
		return next(c)
	case before:
		out := Change{Op: schema.Delete, Layout: c.Layout, Table: c.Table, Before: c.Before, Txn: c.Txn, Seq: c.Seq}
		return next(&out)
	case after:
		out := Change{Op: schema.Insert, Layout: c.Layout, Table: c.Table, After: c.After, Txn: c.Txn, Seq: c.Seq}
		return next(&out)
	}
	return nil
}

func (f *Filter) keep(c *Change, row []any) (bool, error) {
	// Only the columns the expression reads are presented to it.
	idx, err := f.resolve.indexes(c)
	if err != nil {
		return false, err
	}
	for i, name := range f.reads {
		f.env[name] = exprValue(row[idx[i]])
	}
	out, err := f.machine.Run(f.program, f.env)
	if err != nil {
		return false, fmt.Errorf("filter %q: %w", f.src, err)
	}
	keep, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("filter %q: must be true or false, got %T %v", f.src, out, out)
	}
	return keep, nil
}

// exprValue presents a typed value to expressions.
func exprValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return decimalFloat(x)
	case []byte:
		return string(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return float64(x)
	case time.Time:
		return x
	}
	return v
}
