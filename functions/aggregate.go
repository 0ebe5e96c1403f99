package functions

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// AggSpec is one output column of an aggregate.
type AggSpec struct {
	Column string // output column
	Func   string // "count" or "sum"
	Of     string // input column, for sum
}

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
type Aggregate struct {
	table    string // derived table the deltas go to
	groupBy  []string
	aggs     []AggSpec
	countCol string
	resolve  resolver // group-by columns then sum inputs
	nsums    int      // number of sum aggregates
	keyBuf   []byte

	// groups maps a group's key, encoded by appendKey, to its index in the
	// slabs below. ints does the same, with a cheaper lookup, for the common
	// one-column integer key (GROUP BY customer_id): it holds the values
	// appendKey encodes as an int64, so a group is in one map only.
	groups map[string]int32
	ints   map[int64]int32
	// The groups touched since the last Reset, in first-seen order: group g
	// has counts[g], key values keys[g*len(groupBy):] and sums
	// sums[g*nsums:]. Slabs rather than one object per group keep the hot
	// path free of allocations, and Reset keeps their capacity.
	counts []int64 // COUNT(*) delta
	keys   []any
	sums   []sumDelta
}

// NewAggregate builds an aggregate writing deltas to table. One aggregate
// must be a count: it decides when a group is empty.
func NewAggregate(table string, groupBy []string, aggs []AggSpec) (*Aggregate, error) {
	a := &Aggregate{table: table, groupBy: groupBy, aggs: aggs, groups: map[string]int32{}, ints: map[int64]int32{}}
	inputs := append([]string(nil), groupBy...)
	for _, s := range aggs {
		switch s.Func {
		case "count":
			if a.countCol == "" {
				a.countCol = s.Column
			}
		case "sum":
			inputs = append(inputs, s.Of)
			a.nsums++
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

// Output returns the derived table's columns: group-by then aggregates.
func (a *Aggregate) Output(in []string) ([]string, error) {
	have := NewLayout(in)
	for _, n := range a.resolve.names {
		if have.Index(n) < 0 {
			return nil, &ColumnError{Function: "aggregate", Column: n}
		}
	}
	out := append([]string(nil), a.groupBy...)
	for _, s := range a.aggs {
		out = append(out, s.Column)
	}
	return out, nil
}

// Process retracts the before image and applies the after image.
func (a *Aggregate) Process(c *Change, _ Next) error {
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

func (a *Aggregate) add(c *Change, row []any, idx []int, sign int64) error {
	nk := len(a.groupBy)
	var g int32
	if k, ok := intKey(row, idx, nk); ok {
		var found bool
		if g, found = a.ints[k]; !found {
			g = a.newGroup(row, idx)
			a.ints[k] = g
		}
	} else {
		var err error
		a.keyBuf, err = appendKeyOf(a.keyBuf[:0], row, idx[:nk])
		if err != nil {
			return fmt.Errorf("aggregate on %s: group key: %w", tableName(c.Table), err)
		}
		var found bool
		if g, found = a.groups[string(a.keyBuf)]; !found {
			g = a.newGroup(row, idx)
			a.groups[string(a.keyBuf)] = g
		}
	}
	a.counts[g] += sign
	sums := a.sums[int(g)*a.nsums : int(g+1)*a.nsums]
	for i, j := range idx[nk:] {
		v := row[j]
		if v == nil {
			continue
		}
		if err := sums[i].add(v, sign); err != nil {
			return fmt.Errorf("aggregate on %s: sum(%s): %w", tableName(c.Table), a.resolve.names[nk+i], err)
		}
	}
	return nil
}

// intKey is the group key of row as an int64 when it is one column holding
// a value that appendKey encodes as an int64.
func intKey(row []any, idx []int, nk int) (int64, bool) {
	if nk != 1 {
		return 0, false
	}
	switch x := row[idx[0]].(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// newGroup adds an empty group keyed by row's group-by values.
func (a *Aggregate) newGroup(row []any, idx []int) int32 {
	g := int32(len(a.counts))
	a.counts = append(a.counts, 0)
	for _, j := range idx[:len(a.groupBy)] {
		a.keys = append(a.keys, row[j])
	}
	for range a.nsums {
		a.sums = append(a.sums, sumDelta{})
	}
	return g
}

// Flush writes one delta per touched group, skipping groups whose changes
// cancelled out.
func (a *Aggregate) Flush(b *connectors.Batch) error {
	if len(a.counts) == 0 {
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
	nk := len(a.groupBy)
	for g, count := range a.counts {
		sums := a.sums[g*a.nsums : (g+1)*a.nsums]
		if count == 0 && allZero(sums) {
			continue
		}
		row := make([]any, 0, nk+len(a.aggs))
		row = append(row, a.keys[g*nk:(g+1)*nk]...)
		in := 0
		for _, s := range a.aggs {
			switch s.Func {
			case "count":
				row = append(row, count)
			case "sum":
				row = append(row, sums[in].value())
				in++
			}
		}
		if count < 0 {
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

func allZero(sums []sumDelta) bool {
	for i := range sums {
		if !sums[i].isZero() {
			return false
		}
	}
	return true
}

// Pending is the number of groups touched since the last Reset.
func (a *Aggregate) Pending() int { return len(a.counts) }

// Reset forgets the flushed deltas.
func (a *Aggregate) Reset() {
	clear(a.groups)
	clear(a.ints)
	a.counts = a.counts[:0]
	clear(a.keys) // let the key values go
	a.keys = a.keys[:0]
	clear(a.sums)
	a.sums = a.sums[:0]
}

// sumDelta is one SUM's delta in one group. What was added decides its kind:
// exact (integers and DECIMAL) or float; mixing them is an error.
//
// An exact delta is small×10^exp + big: values whose coefficient fits an
// int64 accumulate in small, rescaled to the least exponent seen, as long as
// that is exact (math/bits overflow checks); what would not fit goes to big,
// a decimal.Decimal, which allocates. The value is the same exact decimal,
// with the same exponent (the least of the values added), as adding every
// value with decimal.Decimal.Add.
type sumDelta struct {
	kind     uint8 // sumNone until a non-NULL value, then sumExact or sumFloat
	hasSmall bool
	hasBig   bool
	exp      int32
	small    int64
	big      decimal.Decimal
	f        float64
}

const (
	sumNone uint8 = iota
	sumExact
	sumFloat
)

var errMixedSum = errors.New("mixes float and exact values")

// add adds sign×v (sign is ±1), keeping integers and decimals exact.
func (s *sumDelta) add(v any, sign int64) error {
	switch x := v.(type) {
	case decimal.Decimal:
		if err := s.exact(); err != nil {
			return err
		}
		// NumDigits does not allocate when the coefficient fits an int64,
		// and 18 digits always fit one, so CoefficientInt64 is exact.
		if x.NumDigits() <= 18 {
			s.addSmall(sign*x.CoefficientInt64(), x.Exponent())
			return nil
		}
		if sign < 0 {
			x = x.Neg()
		}
		s.addBig(x)
	case int64:
		if err := s.exact(); err != nil {
			return err
		}
		if x != math.MinInt64 {
			s.addSmall(sign*x, 0)
			return nil
		}
		d := decimal.NewFromInt(x)
		if sign < 0 {
			d = d.Neg()
		}
		s.addBig(d)
	case uint64:
		if err := s.exact(); err != nil {
			return err
		}
		if x <= math.MaxInt64 {
			s.addSmall(sign*int64(x), 0)
			return nil
		}
		d := decimal.NewFromUint64(x)
		if sign < 0 {
			d = d.Neg()
		}
		s.addBig(d)
	case float64, float32:
		f := float64(sign) * toFloat(x)
		switch s.kind {
		case sumNone:
			s.kind, s.f = sumFloat, f
		case sumFloat:
			s.f += f
		default:
			return errMixedSum
		}
	default:
		return fmt.Errorf("cannot sum a value of Go type %T", v)
	}
	return nil
}

// exact makes s an exact sum, unless it is a float one.
func (s *sumDelta) exact() error {
	switch s.kind {
	case sumNone:
		s.kind = sumExact
	case sumFloat:
		return errMixedSum
	}
	return nil
}

// addSmall adds c×10^e, in small when the result is exact, else in big.
func (s *sumDelta) addSmall(c int64, e int32) {
	if !s.hasSmall {
		s.small, s.exp, s.hasSmall = c, e, true
		return
	}
	acc, v, exp := s.small, c, s.exp
	ok := true
	if e > exp {
		v, ok = scale10(c, e-exp)
	} else if e < exp {
		acc, ok = scale10(acc, exp-e)
		exp = e
	}
	if ok {
		var sum int64
		if sum, ok = add64(acc, v); ok {
			s.small, s.exp = sum, exp
			return
		}
	}
	// Overflow: move small into big and start again from c.
	s.addBig(decimal.New(s.small, s.exp))
	s.small, s.exp = c, e
}

func (s *sumDelta) addBig(d decimal.Decimal) {
	if s.hasBig {
		s.big = s.big.Add(d)
	} else {
		s.big, s.hasBig = d, true
	}
}

// value is the delta as Flush writes it: decimal.Decimal, float64, or a
// zero decimal for a sum that only saw NULLs.
func (s *sumDelta) value() any {
	switch s.kind {
	case sumFloat:
		return s.f
	case sumExact:
		switch {
		case !s.hasBig:
			return decimal.New(s.small, s.exp)
		case !s.hasSmall:
			return s.big
		}
		return s.big.Add(decimal.New(s.small, s.exp))
	}
	return decimal.Zero
}

func (s *sumDelta) isZero() bool {
	switch s.kind {
	case sumFloat:
		return s.f == 0
	case sumExact:
		if !s.hasBig {
			return s.small == 0
		}
		if !s.hasSmall {
			return s.big.IsZero()
		}
		return s.big.Add(decimal.New(s.small, s.exp)).IsZero()
	}
	return true
}

// pow10 holds 10^0 .. 10^18, every power of ten an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// scale10 is v×10^n, and whether it fits an int64.
func scale10(v int64, n int32) (int64, bool) {
	if v == 0 {
		return 0, true
	}
	if n >= int32(len(pow10)) {
		return 0, false
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	hi, lo := bits.Mul64(u, uint64(pow10[n]))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false // (−2^63 is left out: rare, and still exact in big)
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

// add64 is a+b, and whether it fits an int64.
func add64(a, b int64) (int64, bool) {
	s := a + b
	return s, (a^s)&(b^s) >= 0
}

func toFloat(v any) float64 {
	if f, ok := v.(float32); ok {
		return float64(f)
	}
	return v.(float64)
}
