package functions

import "fmt"

// Project keeps the listed columns, in order, renaming some (the calculate
// mode of KisFlow reduced to its simplest form). With no columns listed it
// keeps every input column.
type Project struct {
	columns  []string
	rename   map[string]string
	resolve  resolver
	fixedOut *Layout
	outs     map[*Layout]*Layout // when keeping every column: one per input
}

// NewProject builds a project step.
func NewProject(columns []string, rename map[string]string) (*Project, error) {
	p := &Project{columns: columns, rename: rename, resolve: newResolver("project", columns), outs: map[*Layout]*Layout{}}
	if len(columns) > 0 {
		names := make([]string, len(columns))
		seen := make(map[string]bool, len(columns))
		for i, c := range columns {
			names[i] = p.renamed(c)
			if seen[names[i]] {
				return nil, fmt.Errorf("project: output column %q appears twice", names[i])
			}
			seen[names[i]] = true
		}
		p.fixedOut = NewLayout(names)
	}
	return p, nil
}

func (p *Project) renamed(c string) string {
	if n, ok := p.rename[c]; ok {
		return n
	}
	return c
}

// Output returns the output columns given the input ones.
func (p *Project) Output(in []string) ([]string, error) {
	if p.fixedOut == nil {
		out := make([]string, len(in))
		for i, c := range in {
			out[i] = p.renamed(c)
		}
		return out, nil
	}
	have := NewLayout(in)
	for _, c := range p.columns {
		if have.Index(c) < 0 {
			return nil, &ColumnError{Function: "project", Column: c}
		}
	}
	return p.fixedOut.Names, nil
}

// Process emits the change with only the kept columns.
func (p *Project) Process(c *Change, next Next) error {
	if p.fixedOut == nil {
		out, ok := p.outs[c.Layout]
		if !ok {
			names, _ := p.Output(c.Layout.Names)
			out = NewLayout(names)
			p.outs[c.Layout] = out
		}
		pc := *c
		pc.Layout = out
		return next(&pc)
	}
	idx, err := p.resolve.indexes(c)
	if err != nil {
		return err
	}
	out := Change{Op: c.Op, Layout: p.fixedOut, Table: c.Table, Txn: c.Txn, Seq: c.Seq}
	// One allocation for both images.
	n := len(idx)
	var buf []any
	if c.Before != nil && c.After != nil {
		buf = make([]any, 2*n)
	} else {
		buf = make([]any, n)
	}
	if c.Before != nil {
		out.Before = buf[:n:n]
		for i, j := range idx {
			out.Before[i] = c.Before[j]
		}
		buf = buf[n:]
	}
	if c.After != nil {
		out.After = buf[:n:n]
		for i, j := range idx {
			out.After[i] = c.After[j]
		}
	}
	return next(&out)
}
