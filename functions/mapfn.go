package functions

import (
	"fmt"
	"maps"
	"slices"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// MapConfig describes a map function.
type MapConfig struct {
	Set    map[string]string // column -> expression over the input row
	Cast   map[string]string // column -> type
	Rename map[string]string // old -> new
	Drop   []string
}

// Map (KisFlow's calculate mode) computes columns by expression, casts,
// renames and drops columns. In order:
//
//  1. set: each expression is evaluated over the input row (not over the
//     other set columns); a set column replaces the input column of that
//     name in place, or is added after the input columns (new columns in
//     name order);
//  2. cast converts a column (input or set) to a type: int, uint, float,
//     decimal, decimal(P,S), string, date or datetime (MySQL's CAST rules);
//  3. rename renames columns;
//  4. drop removes columns (named before renaming).
//
// Expressions follow MySQL's arithmetic with exact DECIMAL values (see
// exact.go). Each image of an update is computed on its own, so the sink
// after a map sees the old and new computed rows.
type Map struct {
	cfg     MapConfig
	sets    []mapSet // in name order
	casts   map[string]caster
	reads   []string // every input column an expression reads
	env     map[string]any
	machine vm.VM
	vals    []any // the set values of the image being mapped
	plans   map[*Layout]*mapPlan
	last    *Layout
	lastP   *mapPlan
}

type mapSet struct {
	name, src string
	program   *vm.Program
	fn        exactFn // the same expression as closures, when it compiles to them
}

// mapPlan is how one input layout maps to the output.
type mapPlan struct {
	out   *Layout
	src   []int // per output column: the input index, or -1-k for set k
	cast  []caster
	reads []int // input index of each of Map.reads
}

// NewMap compiles a map over input columns.
func NewMap(cfg MapConfig, input []string) (*Map, error) {
	m := &Map{cfg: cfg, casts: map[string]caster{}, plans: map[*Layout]*mapPlan{}}
	slots := map[string]int{}
	have := NewLayout(input)
	read := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Set)) {
		src := cfg.Set[name]
		program, err := expr.Compile(src, exactOptions()...)
		if err != nil {
			return nil, fmt.Errorf("map: set %s = %q: %w", name, src, err)
		}
		// The names of the source as written (the compiled program may
		// have optimised some away; the closures below read them all).
		tree, err := parser.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("map: set %s = %q: %w", name, src, err)
		}
		for _, n := range append(readNames(tree.Node), readNames(program.Node())...) {
			if have.Index(n) < 0 {
				return nil, fmt.Errorf("map: set %s = %q: %w", name, src, &ColumnError{Function: "map", Column: n})
			}
			if !read[n] {
				read[n] = true
				slots[n] = len(m.reads)
				m.reads = append(m.reads, n)
			}
		}
		set := mapSet{name: name, src: src, program: program}
		set.fn, _ = compileExact(tree.Node, slots)
		m.sets = append(m.sets, set)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Cast)) {
		c, err := parseCast(cfg.Cast[name])
		if err != nil {
			return nil, fmt.Errorf("map: cast %s: %w", name, err)
		}
		m.casts[name] = c
	}
	m.env = make(map[string]any, len(m.reads))
	m.vals = make([]any, len(m.sets))
	if _, err := m.Output(input); err != nil {
		return nil, err
	}
	return m, nil
}

// Output returns the output columns given the input ones.
func (m *Map) Output(in []string) ([]string, error) {
	names, _, err := m.shape(in)
	return names, err
}

// shape computes the output names and, per output column, where its value
// comes from (input index, or -1-k for set k).
func (m *Map) shape(in []string) ([]string, []int, error) {
	var names []string
	var src []int
	setIdx := map[string]int{}
	for k, s := range m.sets {
		setIdx[s.name] = k
	}
	placed := map[string]bool{}
	for i, n := range in {
		names = append(names, n)
		if k, ok := setIdx[n]; ok {
			src = append(src, -1-k)
			placed[n] = true
		} else {
			src = append(src, i)
		}
	}
	for k, s := range m.sets {
		if !placed[s.name] {
			names = append(names, s.name)
			src = append(src, -1-k)
		}
	}
	have := NewLayout(names)
	for _, what := range []struct {
		key   string
		names []string
	}{{"cast", slices.Sorted(maps.Keys(m.cfg.Cast))}, {"rename", slices.Sorted(maps.Keys(m.cfg.Rename))}, {"drop", m.cfg.Drop}} {
		for _, n := range what.names {
			if have.Index(n) < 0 {
				return nil, nil, fmt.Errorf("map: %s: %w", what.key, &ColumnError{Function: "map", Column: n})
			}
		}
	}
	drop := map[string]bool{}
	for _, d := range m.cfg.Drop {
		drop[d] = true
	}
	var outNames []string
	var outSrc []int
	seen := map[string]string{}
	for i, n := range names {
		if drop[n] {
			continue
		}
		out := n
		if r, ok := m.cfg.Rename[n]; ok {
			out = r
		}
		if other, dup := seen[out]; dup {
			return nil, nil, fmt.Errorf("map: columns %q and %q would both be named %q", other, n, out)
		}
		seen[out] = n
		outNames = append(outNames, out)
		outSrc = append(outSrc, src[i])
	}
	return outNames, outSrc, nil
}

// castsOf lists, per output column, its cast (nil for none).
func (m *Map) plan(l *Layout) (*mapPlan, error) {
	if l == m.last {
		return m.lastP, nil
	}
	p, ok := m.plans[l]
	if !ok {
		names, src, err := m.shape(l.Names)
		if err != nil {
			return nil, err
		}
		p = &mapPlan{out: NewLayout(names), src: src, cast: make([]caster, len(src))}
		// Casts are named before renaming: find each output column's
		// pre-rename name.
		pre := map[string]string{}
		for old, n := range m.cfg.Rename {
			pre[n] = old
		}
		for i, n := range names {
			if old, ok := pre[n]; ok {
				n = old
			}
			p.cast[i] = m.casts[n]
		}
		for _, r := range m.reads {
			j := l.Index(r)
			if j < 0 {
				return nil, &ColumnError{Function: "map", Column: r}
			}
			p.reads = append(p.reads, j)
		}
		m.plans[l] = p
	}
	m.last, m.lastP = l, p
	return p, nil
}

// Process emits the change with its images mapped.
func (m *Map) Process(c *Change, next Next) error {
	p, err := m.plan(c.Layout)
	if err != nil {
		if ce, ok := err.(*ColumnError); ok {
			ce.Table = tableName(c.Table)
		}
		return err
	}
	n := len(p.src)
	var buf []any
	if c.Before != nil && c.After != nil {
		buf = make([]any, 2*n)
	} else {
		buf = make([]any, n)
	}
	out := Change{Op: c.Op, Layout: p.out, Table: c.Table, Txn: c.Txn, Seq: c.Seq}
	if c.Before != nil {
		out.Before = buf[:n:n]
		if err := m.mapImage(p, c.Before, out.Before); err != nil {
			return err
		}
		buf = buf[n:]
	}
	if c.After != nil {
		out.After = buf[:n:n]
		if err := m.mapImage(p, c.After, out.After); err != nil {
			return err
		}
	}
	return next(&out)
}

func (m *Map) mapImage(p *mapPlan, in, out []any) error {
	if len(m.sets) > 0 {
		envFilled := false
		for k := range m.sets {
			s := &m.sets[k]
			if s.fn != nil {
				v, err := s.fn(in, p.reads)
				if err != nil {
					return fmt.Errorf("map: set %s = %q: %w", s.name, s.src, err)
				}
				if m.vals[k], err = outputValue(v); err != nil {
					return fmt.Errorf("map: set %s = %q: %w", s.name, s.src, err)
				}
				continue
			}
			if !envFilled {
				for i, j := range p.reads {
					m.env[m.reads[i]] = exactValue(in[j])
				}
				envFilled = true
			}
			v, err := m.machine.Run(s.program, m.env)
			if err != nil {
				return fmt.Errorf("map: set %s = %q: %w", s.name, s.src, err)
			}
			if m.vals[k], err = outputValue(v); err != nil {
				return fmt.Errorf("map: set %s = %q: %w", s.name, s.src, err)
			}
		}
	}
	for i, j := range p.src {
		var v any
		if j >= 0 {
			v = in[j]
		} else {
			v = m.vals[-1-j]
		}
		if cast := p.cast[i]; cast != nil {
			var err error
			if v, err = cast(v); err != nil {
				return fmt.Errorf("map: cast column %q: %w", p.out.Names[i], err)
			}
		}
		out[i] = v
	}
	return nil
}
