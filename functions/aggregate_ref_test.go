package functions

import (
	"fmt"
	"math"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// refAggregate is Aggregate as it was before the exact int64 fast path,
// kept (but for names) as the reference the tests compare it with.
//
// Aggregate maintains GROUP BY aggregates incrementally: an insert applies
// the row to its group, a delete retracts it, an update retracts the before
// image and applies the after image (so a row may move between groups).
// Changes to one group within a batch coalesce into one delta write, and a
// group whose count reaches zero is deleted downstream.
//
// COUNT(*) and SUM(col) are kept as deltas, so no state survives a batch:
// the derived table itself is the state, and exactly-once commits make the
// deltas safe. SUM of integer and DECIMAL columns is an exact decimal; SUM of
// NULL adds nothing (SQL's SUM skips NULLs).
type refAggregate struct {
	table    string // derived table the deltas go to
	groupBy  []string
	aggs     []AggSpec
	countCol string
	countIdx int      // index of countCol in aggs
	resolve  resolver // group-by columns then sum inputs
	groups   map[string]*refGroup
	order    []string
	keyBuf   []byte
}

type refGroup struct {
	key    []any
	deltas []any // int64 for counts, decimal.Decimal or float64 for sums
}

// newRefAggregate builds an aggregate writing deltas to table. One aggregate
// must be a count: it decides when a group is empty.
func newRefAggregate(table string, groupBy []string, aggs []AggSpec) (*refAggregate, error) {
	a := &refAggregate{table: table, groupBy: groupBy, aggs: aggs, groups: map[string]*refGroup{}}
	inputs := append([]string(nil), groupBy...)
	for i, s := range aggs {
		switch s.Func {
		case "count":
			if a.countCol == "" {
				a.countCol, a.countIdx = s.Column, i
			}
		case "sum":
			inputs = append(inputs, s.Of)
		default:
			return nil, fmt.Errorf("aggregate: unknown function %q for column %q (expected count or sum)", s.Func, s.Column)
		}
	}
	if a.countCol == "" {
		return nil, fmt.Errorf("aggregate: needs a count aggregate to know when a group is empty")
	}
	a.resolve = newResolver("aggregate", inputs)
	return a, nil
}

// Process retracts the before image and applies the after image.
func (a *refAggregate) Process(c *Change, _ Next) error {
	idx, err := a.resolve.indexes(c)
	if err != nil {
		return err
	}
	if c.Before != nil {
		if err := a.add(c, c.Before, idx, -1); err != nil {
			return err
		}
	}
	if c.After != nil {
		return a.add(c, c.After, idx, +1)
	}
	return nil
}

func (a *refAggregate) add(c *Change, row []any, idx []int, sign int64) error {
	nk := len(a.groupBy)
	var err error
	a.keyBuf, err = appendKeyOf(a.keyBuf[:0], row, idx[:nk])
	if err != nil {
		return fmt.Errorf("aggregate on %s: group key: %w", tableName(c.Table), err)
	}
	g, ok := a.groups[string(a.keyBuf)]
	if !ok {
		k := string(a.keyBuf)
		g = &refGroup{key: make([]any, nk), deltas: make([]any, len(a.aggs))}
		for i, j := range idx[:nk] {
			g.key[i] = row[j]
		}
		for i, s := range a.aggs {
			if s.Func == "count" {
				g.deltas[i] = int64(0)
			}
		}
		a.groups[k] = g
		a.order = append(a.order, k)
	}
	in := nk
	for i, s := range a.aggs {
		switch s.Func {
		case "count":
			g.deltas[i] = g.deltas[i].(int64) + sign
		case "sum":
			v := row[idx[in]]
			in++
			if v == nil {
				continue
			}
			d, err := refAddSigned(g.deltas[i], v, sign)
			if err != nil {
				return fmt.Errorf("aggregate on %s: sum(%s): %w", tableName(c.Table), s.Of, err)
			}
			g.deltas[i] = d
		}
	}
	return nil
}

// refAddSigned adds sign*v to acc, keeping integers and decimals exact.
func refAddSigned(acc, v any, sign int64) (any, error) {
	var dv decimal.Decimal
	switch x := v.(type) {
	case decimal.Decimal:
		dv = x
	case int64:
		dv = decimal.NewFromInt(x)
	case uint64:
		if x <= math.MaxInt64 {
			dv = decimal.NewFromInt(int64(x))
		} else {
			dv = decimal.NewFromUint64(x)
		}
	case float64, float32:
		f := toFloat(x)
		if acc == nil {
			return float64(sign) * f, nil
		}
		af, ok := acc.(float64)
		if !ok {
			return nil, fmt.Errorf("mixes float and exact values")
		}
		return af + float64(sign)*f, nil
	default:
		return nil, fmt.Errorf("cannot sum a value of Go type %T", v)
	}
	if sign < 0 {
		dv = dv.Neg()
	}
	switch a := acc.(type) {
	case nil:
		return dv, nil
	case decimal.Decimal:
		return a.Add(dv), nil
	}
	return nil, fmt.Errorf("mixes float and exact values")
}

// Flush writes one delta per touched group, skipping groups whose changes
// cancelled out.
func (a *refAggregate) Flush(b *connectors.Batch) error {
	if len(a.order) == 0 {
		return nil
	}
	cols := make([]string, len(a.aggs))
	for i, s := range a.aggs {
		cols[i] = s.Column
	}
	// Only a group whose count fell can have reached zero, so only those
	// need the delete-when-zero check: growing groups skip that statement.
	grew := connectors.Delta{Table: a.table, Key: a.groupBy, Columns: cols}
	shrank := connectors.Delta{Table: a.table, Key: a.groupBy, Columns: cols, DeleteWhenZero: a.countCol}
	for _, k := range a.order {
		g := a.groups[k]
		if refAllZero(g.deltas) {
			continue
		}
		row := make([]any, 0, len(g.key)+len(g.deltas))
		row = append(row, g.key...)
		for _, v := range g.deltas {
			if v == nil {
				v = decimal.Zero // a sum that only saw NULLs
			}
			row = append(row, v)
		}
		if g.deltas[a.countIdx].(int64) < 0 {
			shrank.Rows = append(shrank.Rows, row)
		} else {
			grew.Rows = append(grew.Rows, row)
		}
	}
	for _, d := range []connectors.Delta{grew, shrank} {
		if len(d.Rows) > 0 {
			b.Deltas = append(b.Deltas, d)
		}
	}
	return nil
}

func refAllZero(vals []any) bool {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
		case int64:
			if x != 0 {
				return false
			}
		case decimal.Decimal:
			if !x.IsZero() {
				return false
			}
		case float64:
			if x != 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Pending is the number of groups touched since the last Reset.
func (a *refAggregate) Pending() int { return len(a.order) }

// Reset forgets the flushed deltas.
func (a *refAggregate) Reset() {
	clear(a.groups)
	a.order = a.order[:0]
}
