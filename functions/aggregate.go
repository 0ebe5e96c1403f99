package functions

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// Aggregate funcs.
const (
	AggCount         = "count"          // COUNT(*), or COUNT(of): rows where of is not NULL
	AggSum           = "sum"            // SUM(of), exact for integers and DECIMAL
	AggAvg           = "avg"            // SUM(of) / COUNT(of), from a sum and a count of the same column
	AggMin           = "min"            // MIN(of), from the state table
	AggMax           = "max"            // MAX(of), from the state table
	AggCountDistinct = "count_distinct" // COUNT(DISTINCT of), from the state table
)

// AggSpec is one output column of an aggregate.
type AggSpec struct {
	Column string // output column
	Func   string // one of the Agg* funcs
	Of     string // input column; none for COUNT(*)
}

// Bucket makes a time bucket of a DATETIME, TIMESTAMP or DATE column a
// group-by key: the column's value truncated (in UTC) to the start of its
// minute, hour, day or month.
type Bucket struct {
	Column string // input column
	Every  string // "minute", "hour", "day" or "month"
	As     string // output column; the input column's name when empty
}

// Bucket units.
var bucketUnits = []string{"minute", "hour", "day", "month"}

// AggConfig describes an aggregate.
type AggConfig struct {
	Table   string // the derived table
	GroupBy []string
	Bucket  *Bucket // optional, a group-by key after GroupBy
	Aggs    []AggSpec
}

// StateTable is the name of the state table an aggregate writing to table
// keeps for MIN, MAX and COUNT DISTINCT of column of: "<table>__<of>". Its
// columns are the group-by keys, then of, then n (how many rows of the group
// hold that value), with PRIMARY KEY (keys..., of).
func StateTable(table, of string) string { return table + "__" + of }

// StateCountColumn is the multiplicity column of a state table.
const StateCountColumn = "n"

// Aggregate maintains GROUP BY aggregates incrementally: an insert applies
// the row to its group, a delete retracts it, an update retracts the before
// image and applies the after image (so a row may move between groups).
// Changes to one group within a batch coalesce into one delta write, and a
// group whose count reaches zero is deleted downstream.
//
// COUNT and SUM are kept as deltas, so no state survives a batch: the derived
// table itself is the state, and exactly-once commits make the deltas safe.
// SUM of integer and DECIMAL columns is an exact decimal; SUM and COUNT(of)
// skip NULLs, as SQL's do.
//
// MIN, MAX and COUNT DISTINCT cannot be maintained from deltas once values
// are retracted, so they keep state downstream: for each input column they
// read, a state table (StateTable) holds, per group, every distinct non-NULL
// value and how many rows hold it. The batch adjusts those counts with delta
// writes (deleting values whose count reaches 0) and then recomputes MIN, MAX
// and COUNT(*) of the touched groups' state rows in SQL, all in the batch's
// transaction, with its checkpoint: the state is exactly as current as the
// derived table, survives restarts and kill -9, and is bounded by the number
// of distinct (group, value) pairs. AVG is SUM / COUNT(of), recomputed from
// the two columns in the same transaction.
type Aggregate struct {
	table    string // derived table the deltas go to
	groupBy  []string
	keyCols  []string // groupBy, then the bucket's output column
	aggs     []AggSpec
	countCol string
	resolve  resolver // key inputs, then sum inputs, count(of) inputs, state inputs
	nsums    int      // number of sum aggregates
	ncc      int      // number of count(of) aggregates
	keyBuf   []byte

	bucket   *Bucket
	every    uint8 // index in bucketUnits
	kv       []any // the key values of the row being added, when bucketed
	kvIdx    []int // 0, 1, ... len(keyCols)-1
	states   []*aggState
	derived  []connectors.Computed // columns recomputed after the deltas
	deltaCol []string              // delta columns, in spec order

	// groups maps a group's key, encoded by appendKey, to its index in the
	// slabs below. ints does the same, with a cheaper lookup, for the common
	// one-column integer key (GROUP BY customer_id): it holds the values
	// appendKey encodes as an int64, so a group is in one map only.
	groups map[string]int32
	ints   map[int64]int32
	// The groups touched since the last Reset, in first-seen order: group g
	// has counts[g], key values keys[g*len(keyCols):], sums
	// sums[g*nsums:] and counts of columns ccounts[g*ncc:]. Slabs rather
	// than one object per group keep the hot path free of allocations, and
	// Reset keeps their capacity.
	counts  []int64 // COUNT(*) delta
	keys    []any
	sums    []sumDelta
	ccounts []int64 // COUNT(of) deltas
}

// NewAggregate builds an aggregate writing deltas to table. One aggregate
// must be a count of rows (no of): it decides when a group is empty.
func NewAggregate(table string, groupBy []string, aggs []AggSpec) (*Aggregate, error) {
	return NewAggregateOf(AggConfig{Table: table, GroupBy: groupBy, Aggs: aggs})
}

// NewAggregateOf builds an aggregate from its full description.
func NewAggregateOf(cfg AggConfig) (*Aggregate, error) {
	a := &Aggregate{table: cfg.Table, groupBy: cfg.GroupBy, aggs: cfg.Aggs, groups: map[string]int32{}, ints: map[int64]int32{}}
	a.keyCols = append([]string(nil), cfg.GroupBy...)
	inputs := append([]string(nil), cfg.GroupBy...)
	if b := cfg.Bucket; b != nil {
		bc := *b
		if bc.As == "" {
			bc.As = bc.Column
		}
		every := -1
		for i, u := range bucketUnits {
			if u == bc.Every {
				every = i
			}
		}
		if every < 0 {
			return nil, fmt.Errorf("aggregate: bucket every %q: expected one of %s", bc.Every, strings.Join(bucketUnits, ", "))
		}
		for _, g := range cfg.GroupBy {
			if g == bc.As {
				return nil, fmt.Errorf("aggregate: bucket column %q is also a group_by column", bc.As)
			}
		}
		a.bucket, a.every = &bc, uint8(every)
		a.keyCols = append(a.keyCols, bc.As)
		inputs = append(inputs, bc.Column)
		a.kv = make([]any, len(a.keyCols))
		a.kvIdx = leading(len(a.keyCols))
	}
	key := map[string]bool{}
	for _, k := range a.keyCols {
		key[k] = true
	}
	byOf := func(fn, of string) *AggSpec {
		for i := range cfg.Aggs {
			if s := &cfg.Aggs[i]; s.Func == fn && s.Of == of {
				return s
			}
		}
		return nil
	}
	var countOfs, stateOfs []string
	for _, s := range cfg.Aggs {
		switch s.Func {
		case AggCount:
			if s.Of == "" {
				if a.countCol == "" {
					a.countCol = s.Column
				}
			} else {
				countOfs = append(countOfs, s.Of)
				a.ncc++
			}
			a.deltaCol = append(a.deltaCol, s.Column)
		case AggSum:
			if s.Of == "" {
				return nil, fmt.Errorf("aggregate: %s = sum needs of, the column to add up", s.Column)
			}
			inputs = append(inputs, s.Of)
			a.nsums++
			a.deltaCol = append(a.deltaCol, s.Column)
		case AggAvg:
			sum, count := byOf(AggSum, s.Of), byOf(AggCount, s.Of)
			if s.Of == "" || sum == nil || count == nil {
				return nil, fmt.Errorf("aggregate: %s = avg(%s) is derived from sum(%[2]s) and count(%[2]s) kept in the same table: "+
					`add { column = "sum_%[2]s", func = "sum", of = %[2]q } and { column = "count_%[2]s", func = "count", of = %[2]q }`, s.Column, s.Of)
			}
			a.derived = append(a.derived, connectors.Computed{Column: s.Column, Func: "div", Num: sum.Column, Den: count.Column})
		case AggMin, AggMax, AggCountDistinct:
			switch {
			case s.Of == "":
				return nil, fmt.Errorf("aggregate: %s = %s needs of, the column it reads", s.Column, s.Func)
			case key[s.Of]:
				return nil, fmt.Errorf("aggregate: %s = %s(%s) reads a group-by column, which is constant in its group", s.Column, s.Func, s.Of)
			case s.Of == StateCountColumn || key[StateCountColumn]:
				return nil, fmt.Errorf("aggregate: %s = %s(%s): the state table %s uses column %q for its counts; rename the column %q with a map first",
					s.Column, s.Func, s.Of, StateTable(cfg.Table, s.Of), StateCountColumn, StateCountColumn)
			}
			st := StateTable(cfg.Table, s.Of)
			fn := s.Func
			if fn == AggCountDistinct {
				fn = "count"
			}
			a.derived = append(a.derived, connectors.Computed{Column: s.Column, Func: fn, State: st, Of: s.Of})
			seen := false
			for _, o := range stateOfs {
				seen = seen || o == s.Of
			}
			if !seen {
				stateOfs = append(stateOfs, s.Of)
				a.states = append(a.states, newAggState(st, s.Of))
			}
		default:
			return nil, fmt.Errorf("aggregate: unknown function %q for column %q (expected count, sum, avg, min, max or count_distinct)", s.Func, s.Column)
		}
	}
	if a.countCol == "" {
		return nil, fmt.Errorf("aggregate: needs a count aggregate (without of) to know when a group is empty")
	}
	inputs = append(inputs, countOfs...)
	inputs = append(inputs, stateOfs...)
	a.resolve = newResolver("aggregate", inputs)
	return a, nil
}

func leading(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// KeyColumns are the derived table's key: the group-by columns, then the
// bucket's output column.
func (a *Aggregate) KeyColumns() []string { return a.keyCols }

// Output returns the derived table's columns: group-by then aggregates.
func (a *Aggregate) Output(in []string) ([]string, error) {
	have := NewLayout(in)
	for _, n := range a.resolve.names {
		if have.Index(n) < 0 {
			return nil, &ColumnError{Function: "aggregate", Column: n}
		}
	}
	out := append([]string(nil), a.keyCols...)
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
	nk := len(a.keyCols)
	keyRow, keyIdx := row, idx[:nk]
	if a.bucket != nil {
		for i, j := range keyIdx {
			a.kv[i] = row[j]
		}
		t, err := truncTime(row[idx[nk-1]], a.every)
		if err != nil {
			return fmt.Errorf("aggregate on %s: bucket of %s: %w", tableName(c.Table), a.bucket.Column, err)
		}
		a.kv[nk-1] = t
		keyRow, keyIdx = a.kv, a.kvIdx
	}
	var g int32
	if k, ok := intKey(keyRow, keyIdx, nk); ok {
		var found bool
		if g, found = a.ints[k]; !found {
			g = a.newGroup(keyRow, keyIdx)
			a.ints[k] = g
		}
	} else {
		var err error
		a.keyBuf, err = appendKeyOf(a.keyBuf[:0], keyRow, keyIdx)
		if err != nil {
			return fmt.Errorf("aggregate on %s: group key: %w", tableName(c.Table), err)
		}
		var found bool
		if g, found = a.groups[string(a.keyBuf)]; !found {
			g = a.newGroup(keyRow, keyIdx)
			a.groups[string(a.keyBuf)] = g
		}
	}
	a.counts[g] += sign
	in := idx[nk:]
	sums := a.sums[int(g)*a.nsums : int(g+1)*a.nsums]
	for i, j := range in[:a.nsums] {
		v := row[j]
		if v == nil {
			continue
		}
		if err := sums[i].add(v, sign); err != nil {
			return fmt.Errorf("aggregate on %s: sum(%s): %w", tableName(c.Table), a.resolve.names[nk+i], err)
		}
	}
	if a.ncc > 0 {
		cc := a.ccounts[int(g)*a.ncc : int(g+1)*a.ncc]
		for i, j := range in[a.nsums : a.nsums+a.ncc] {
			if row[j] != nil {
				cc[i] += sign
			}
		}
	}
	for i, j := range in[a.nsums+a.ncc:] {
		if v := row[j]; v != nil {
			if err := a.states[i].add(g, v, sign); err != nil {
				return fmt.Errorf("aggregate on %s: state of %s: %w", tableName(c.Table), a.states[i].of, err)
			}
		}
	}
	return nil
}

// truncTime is the start of v's bucket, in UTC.
func truncTime(v any, every uint8) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = t.UTC()
		switch bucketUnits[every] {
		case "minute":
			return t.Truncate(time.Minute), nil
		case "hour":
			return t.Truncate(time.Hour), nil
		case "day":
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
		default:
			return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), nil
		}
	case string:
		return nil, fmt.Errorf("value %q is not a date and time (a zero date?)", t)
	}
	return nil, fmt.Errorf("value of Go type %T is not a date and time", v)
}

// intKey is the group key of row as an int64 when it is one column holding
// a value that appendKey encodes as an int64.
func intKey(row []any, idx []int, nk int) (int64, bool) {
	if nk != 1 {
		return 0, false
	}
	return intValue(row[idx[0]])
}

// intValue is v as an int64 when appendKey encodes it as one.
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
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
	for _, j := range idx {
		a.keys = append(a.keys, row[j])
	}
	for range a.nsums {
		a.sums = append(a.sums, sumDelta{})
	}
	for range a.ncc {
		a.ccounts = append(a.ccounts, 0)
	}
	return g
}

// Flush writes one delta per touched group, skipping groups whose changes
// cancelled out; then the state deltas, then the recomputation of the
// derived columns (avg, min, max, count_distinct) of the touched groups.
func (a *Aggregate) Flush(b *connectors.Batch) error {
	if len(a.counts) == 0 {
		return nil
	}
	// Only a group whose count fell can have reached zero, so only those
	// need the delete-when-zero check: growing groups skip that statement.
	grew := connectors.Delta{Table: a.table, Key: a.keyCols, Columns: a.deltaCol}
	shrank := connectors.Delta{Table: a.table, Key: a.keyCols, Columns: a.deltaCol, DeleteWhenZero: a.countCol}
	nk := len(a.keyCols)
	var touched []bool
	if len(a.derived) > 0 {
		touched = make([]bool, len(a.counts))
		for _, s := range a.states {
			s.touched(touched)
		}
	}
	for g, count := range a.counts {
		sums := a.sums[g*a.nsums : (g+1)*a.nsums]
		cc := a.ccounts[g*a.ncc : (g+1)*a.ncc]
		if count == 0 && allZero(sums) && allZeroInts(cc) {
			continue
		}
		if touched != nil {
			touched[g] = true
		}
		row := make([]any, 0, nk+len(a.deltaCol))
		row = append(row, a.keys[g*nk:(g+1)*nk]...)
		is, ic := 0, 0
		for _, s := range a.aggs {
			switch {
			case s.Func == AggCount && s.Of == "":
				row = append(row, count)
			case s.Func == AggCount:
				row = append(row, cc[ic])
				ic++
			case s.Func == AggSum:
				row = append(row, sums[is].value())
				is++
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
	for _, s := range a.states {
		s.flush(b, a.keyCols, a.keys)
	}
	if touched != nil {
		r := connectors.Recompute{Table: a.table, Key: a.keyCols, Set: a.derived}
		for g, t := range touched {
			if t {
				r.Keys = append(r.Keys, append([]any(nil), a.keys[g*nk:(g+1)*nk]...))
			}
		}
		if len(r.Keys) > 0 {
			b.Recomputes = append(b.Recomputes, r)
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

func allZeroInts(ns []int64) bool {
	for _, n := range ns {
		if n != 0 {
			return false
		}
	}
	return true
}

// Pending is the number of groups touched since the last Reset, plus the
// (group, value) pairs of state changed.
func (a *Aggregate) Pending() int {
	n := len(a.counts)
	for _, s := range a.states {
		n += len(s.ns)
	}
	return n
}

// Reset forgets the flushed deltas.
func (a *Aggregate) Reset() {
	clear(a.groups)
	clear(a.ints)
	a.counts = a.counts[:0]
	clear(a.keys) // let the key values go
	a.keys = a.keys[:0]
	clear(a.sums)
	a.sums = a.sums[:0]
	a.ccounts = a.ccounts[:0]
	for _, s := range a.states {
		s.reset()
	}
}

// aggState is the change, within a batch, of one state table: per (group,
// value), how many more (or fewer) rows hold the value.
type aggState struct {
	table string
	of    string
	// entry of a (group, value): ints for values appendKey encodes as an
	// int64, index for the others (group index, then the encoded value).
	ints   map[[2]int64]int32
	index  map[string]int32
	groups []int32
	vals   []any
	ns     []int64
	buf    []byte
}

func newAggState(table, of string) *aggState {
	return &aggState{table: table, of: of, ints: map[[2]int64]int32{}, index: map[string]int32{}}
}

func (s *aggState) add(g int32, v any, sign int64) error {
	if k, ok := intValue(v); ok {
		e, found := s.ints[[2]int64{int64(g), k}]
		if !found {
			e = s.newEntry(g, v)
			s.ints[[2]int64{int64(g), k}] = e
		}
		s.ns[e] += sign
		return nil
	}
	s.buf = append(s.buf[:0], byte(g>>24), byte(g>>16), byte(g>>8), byte(g))
	var err error
	if s.buf, err = appendKey(s.buf, v); err != nil {
		return err
	}
	e, found := s.index[string(s.buf)]
	if !found {
		e = s.newEntry(g, v)
		s.index[string(s.buf)] = e
	}
	s.ns[e] += sign
	return nil
}

func (s *aggState) newEntry(g int32, v any) int32 {
	e := int32(len(s.ns))
	s.groups = append(s.groups, g)
	s.vals = append(s.vals, v)
	s.ns = append(s.ns, 0)
	return e
}

// touched marks the groups whose state changed.
func (s *aggState) touched(groups []bool) {
	for e, n := range s.ns {
		if n != 0 {
			groups[s.groups[e]] = true
		}
	}
}

// flush writes the changed counts: rows (keys..., value, n).
func (s *aggState) flush(b *connectors.Batch, keyCols []string, keys []any) {
	nk := len(keyCols)
	key := append(append([]string(nil), keyCols...), s.of)
	grew := connectors.Delta{Table: s.table, Key: key, Columns: []string{StateCountColumn}}
	shrank := connectors.Delta{Table: s.table, Key: key, Columns: []string{StateCountColumn}, DeleteWhenZero: StateCountColumn}
	for e, n := range s.ns {
		if n == 0 {
			continue
		}
		g := int(s.groups[e])
		row := make([]any, 0, nk+2)
		row = append(row, keys[g*nk:(g+1)*nk]...)
		row = append(row, s.vals[e], n)
		if n < 0 {
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
}

func (s *aggState) reset() {
	clear(s.ints)
	clear(s.index)
	s.groups = s.groups[:0]
	clear(s.vals)
	s.vals = s.vals[:0]
	s.ns = s.ns[:0]
}

var errMixedSum = errors.New("mixes float and exact values")

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
