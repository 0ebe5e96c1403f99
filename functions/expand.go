package functions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema"
)

// ExpandConfig describes an expand function.
type ExpandConfig struct {
	Of        string // the column to split
	As        string // the element's column; Of when empty
	Format    string // "set" (default: comma-separated), "json" (an array) or "split"
	Separator string // for "split"
	Position  string // optional column for the element's position, from 1
}

// Expand turns one row into one row per element of a list column: a SET
// (members joined by commas), a JSON array, or text split by a separator.
// The element replaces the list column (under the name As), and Position,
// when set, numbers the elements from 1.
//
// It stays exact under updates: an update of the source row retracts every
// old element's row (deletes), then inserts every new one; a delete deletes
// every old element's row. A sink keyed by (id, element) or (id, position)
// thus ends with exactly the new elements, and an aggregate counts them.
//
// A NULL or empty list has no elements. JSON elements: strings are text,
// numbers exact decimals, true/false 1/0, null NULL, objects and arrays
// their JSON text.
type Expand struct {
	cfg   ExpandConfig
	plans map[*Layout]*expandPlan
	last  *Layout
	lastP *expandPlan
}

type expandPlan struct {
	out    *Layout
	of     int // input index of the list
	as     int // output index of the element
	pos    int // output index of the position, or -1
	copied []int
}

// NewExpand builds an expand step.
func NewExpand(cfg ExpandConfig) (*Expand, error) {
	if cfg.As == "" {
		cfg.As = cfg.Of
	}
	switch cfg.Format {
	case "":
		cfg.Format = "set"
	case "set", "json":
	case "split":
		if cfg.Separator == "" {
			return nil, fmt.Errorf("expand: format split needs a separator")
		}
	default:
		return nil, fmt.Errorf("expand: unknown format %q (expected set, json or split)", cfg.Format)
	}
	if cfg.Position != "" && cfg.Position == cfg.As {
		return nil, fmt.Errorf("expand: position column %q is also the element's column", cfg.Position)
	}
	return &Expand{cfg: cfg, plans: map[*Layout]*expandPlan{}}, nil
}

// Inputs lists the column the function reads.
func (x *Expand) Inputs() []string { return []string{x.cfg.Of} }

// Output returns the output columns given the input ones.
func (x *Expand) Output(in []string) ([]string, error) {
	names, _, err := x.shape(in)
	return names, err
}

func (x *Expand) shape(in []string) ([]string, *expandPlan, error) {
	p := &expandPlan{of: -1, pos: -1}
	var names []string
	for i, n := range in {
		switch {
		case n == x.cfg.Of:
			p.of, p.as = i, len(names)
			names = append(names, x.cfg.As)
			p.copied = append(p.copied, -1)
		case n == x.cfg.As || n == x.cfg.Position:
			return nil, nil, fmt.Errorf("expand: the input already has a column %q; rename or drop it first", n)
		default:
			names = append(names, n)
			p.copied = append(p.copied, i)
		}
	}
	if p.of < 0 {
		return nil, nil, &ColumnError{Function: "expand", Column: x.cfg.Of}
	}
	if x.cfg.Position != "" {
		p.pos = len(names)
		names = append(names, x.cfg.Position)
		p.copied = append(p.copied, -1)
	}
	return names, p, nil
}

func (x *Expand) plan(c *Change) (*expandPlan, error) {
	if c.Layout == x.last {
		return x.lastP, nil
	}
	p, ok := x.plans[c.Layout]
	if !ok {
		names, np, err := x.shape(c.Layout.Names)
		if err != nil {
			if ce, ok := err.(*ColumnError); ok {
				ce.Table = tableName(c.Table)
			}
			return nil, err
		}
		np.out = NewLayout(names)
		p = np
		x.plans[c.Layout] = p
	}
	x.last, x.lastP = c.Layout, p
	return p, nil
}

// Process emits one change per element (see Expand).
func (x *Expand) Process(c *Change, next Next) error {
	p, err := x.plan(c)
	if err != nil {
		return err
	}
	var olds, news []any
	if c.Before != nil {
		if olds, err = x.elements(c.Before[p.of]); err != nil {
			return fmt.Errorf("expand %s (before image): %w", x.cfg.Of, err)
		}
	}
	if c.After != nil {
		if news, err = x.elements(c.After[p.of]); err != nil {
			return fmt.Errorf("expand %s: %w", x.cfg.Of, err)
		}
	}
	emit := func(op schema.Op, before, after []any) error {
		out := Change{Op: op, Layout: p.out, Table: c.Table, Before: before, After: after, Txn: c.Txn, Seq: c.Seq}
		return next(&out)
	}
	// Every retraction before any insertion: a sink applies changes in
	// order, and an element moving between positions must not be deleted
	// after its new row was written.
	for i, e := range olds {
		if err := emit(schema.Delete, x.row(p, c.Before, e, i), nil); err != nil {
			return err
		}
	}
	for i, e := range news {
		if err := emit(schema.Insert, nil, x.row(p, c.After, e, i)); err != nil {
			return err
		}
	}
	return nil
}

// row builds the output row of element i of in.
func (x *Expand) row(p *expandPlan, in []any, elem any, i int) []any {
	out := make([]any, len(p.copied))
	for k, j := range p.copied {
		if j >= 0 {
			out[k] = in[j]
		}
	}
	out[p.as] = elem
	if p.pos >= 0 {
		out[p.pos] = int64(i + 1)
	}
	return out
}

// elements splits a list value.
func (x *Expand) elements(v any) ([]any, error) {
	var s string
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = t
	case []byte:
		s = string(t)
	default:
		return nil, fmt.Errorf("cannot split a value of Go type %T (want text)", v)
	}
	if s == "" {
		return nil, nil
	}
	switch x.cfg.Format {
	case "json":
		return jsonElements(s)
	case "split":
		return stringsAsAny(strings.Split(s, x.cfg.Separator)), nil
	}
	return stringsAsAny(strings.Split(s, ",")), nil
}

func stringsAsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func jsonElements(s string) ([]any, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		if trimmed := strings.TrimSpace(s); trimmed == "null" {
			return nil, nil
		}
		return nil, fmt.Errorf("not a JSON array: %w", err)
	}
	out := make([]any, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		switch {
		case len(r) == 0 || string(r) == "null":
			out[i] = nil
		case r[0] == '"':
			var str string
			if err := json.Unmarshal(r, &str); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = str
		case string(r) == "true":
			out[i] = int64(1)
		case string(r) == "false":
			out[i] = int64(0)
		case r[0] == '{' || r[0] == '[':
			var b bytes.Buffer
			if err := json.Compact(&b, r); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = b.String()
		default:
			d, err := decimal.NewFromString(string(r))
			if err != nil {
				return nil, fmt.Errorf("element %d: %s is not a number", i, r)
			}
			if d.IsInteger() && d.NumDigits() <= 18 {
				out[i] = d.IntPart()
			} else {
				out[i] = d
			}
		}
	}
	return out, nil
}
