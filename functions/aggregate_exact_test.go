package functions

import (
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// sameDelta reports whether two aggregate outputs are the same: decimals
// equal with the same exponent (so they print alike), floats bit for bit
// (-0 included), anything else deeply equal.
func sameDelta(a, b any) bool {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Cmp(y) == 0 && x.Exponent() == y.Exponent() && x.String() == y.String()
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	return reflect.DeepEqual(a, b)
}

type signed struct {
	v    any
	sign int64
}

// refSum folds vals with the pre-fast-path addSigned: the reference.
func refSum(vals []signed) (any, error) {
	var acc any
	for _, s := range vals {
		if s.v == nil {
			continue
		}
		var err error
		if acc, err = refAddSigned(acc, s.v, s.sign); err != nil {
			return nil, err
		}
	}
	if acc == nil {
		return decimal.Zero, nil
	}
	return acc, nil
}

func sumOf(vals []signed) (*sumDelta, error) {
	var s sumDelta
	for _, v := range vals {
		if v.v == nil {
			continue
		}
		if err := s.add(v.v, v.sign); err != nil {
			return &s, err
		}
	}
	return &s, nil
}

func plus(vs ...any) []signed {
	out := make([]signed, len(vs))
	for i, v := range vs {
		out[i] = signed{v, 1}
	}
	return out
}

func minus(vs ...any) []signed {
	out := plus(vs...)
	for i := range out {
		out[i].sign = -1
	}
	return out
}

func cat(parts ...[]signed) []signed {
	var out []signed
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func repeat(n int, s []signed) []signed {
	var out []signed
	for range n {
		out = append(out, s...)
	}
	return out
}

func TestSumDeltaExact(t *testing.T) {
	const maxI, minI = int64(math.MaxInt64), int64(math.MinInt64)
	cases := []struct {
		name string
		vals []signed
		want string // decimal.Decimal's String of the delta
		exp  int32  // and its exponent: the least of the values'
	}{
		{"same exponent", plus(dec("10.50"), dec("0.25")), "10.75", -2},
		{"mixed exponents", plus(dec("1.5"), dec("0.25"), int64(3), dec("1.000")), "5.75", -3},
		{"higher exponent after lower", plus(dec("0.001"), dec("2"), dec("1.5")), "3.501", -3},
		{"positive exponents", plus(decimal.New(5, 3), decimal.New(7, 1)), "5070", 1},
		{"positive exponent then integer", plus(decimal.New(5, 3), int64(3)), "5003", 0},
		{"negative values", plus(dec("-10.25"), dec("3.10"), int64(-4)), "-11.15", -2},
		{"retractions", cat(plus(dec("10.00"), dec("1.5")), minus(dec("10.00"))), "1.5", -2},
		{"cancel to zero", cat(plus(dec("10.00")), minus(dec("10.00"))), "0", -2},
		{"zero value decimal", plus(decimal.Decimal{}, dec("0.00")), "0", -2},
		{"int64 overflow", plus(maxI, maxI, maxI), "27670116110564327421", 0},
		{"int64 underflow", plus(minI, minI, int64(-1)), "-18446744073709551617", 0},
		{"MinInt64 retracted", minus(minI), "9223372036854775808", 0},
		{"MinInt64 and back", cat(plus(minI), minus(minI), plus(int64(1))), "1", 0},
		{"uint64 above int64", plus(uint64(math.MaxUint64), uint64(1), int64(1)), "18446744073709551617", 0},
		{"uint64 retracted", cat(minus(uint64(math.MaxUint64)), plus(uint64(math.MaxUint64), uint64(5))), "5", 0},
		{"overflow back and forth", cat(plus(maxI, maxI), minus(maxI, maxI), plus(int64(2))), "2", 0},
		{"rescale overflows", plus(int64(900_000_000_000_000_000), dec("0.01")), "900000000000000000.01", -2},
		{"rescale of the value overflows", plus(dec("0.01"), int64(900_000_000_000_000_000)), "900000000000000000.01", -2},
		{"18-digit decimals", repeat(20, plus(dec("9999999999999999.99"))), "199999999999999999.8", -2},
		{"18-digit coefficients overflow", repeat(20, plus(dec("999999999999999999"))), "19999999999999999980", 0},
		{"19-digit and longer decimals", plus(dec("12345678901234567890.123456789"), dec("0.000000001"), dec("1")), "12345678901234567891.12345679", -9},
		{"huge exponent gap", plus(decimal.New(1, 40), decimal.New(1, -40), decimal.New(-1, 40)), "0.0000000000000000000000000000000000000001", -40},
		{"nulls only", plus(nil, nil), "0", 0},
		{"nulls interleaved", plus(nil, dec("1.5"), nil, int64(2)), "3.5", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := sumOf(c.vals)
			if err != nil {
				t.Fatal(err)
			}
			got := s.value()
			d, ok := got.(decimal.Decimal)
			if !ok {
				t.Fatalf("value %#v is not a decimal", got)
			}
			if d.String() != c.want || (s.kind != sumNone && d.Exponent() != c.exp) {
				t.Errorf("sum = %s (exponent %d), want %s (exponent %d)", d, d.Exponent(), c.want, c.exp)
			}
			want, err := refSum(c.vals)
			if err != nil {
				t.Fatal(err)
			}
			if !sameDelta(got, want) {
				t.Errorf("sum = %s (exponent %d), reference %s (exponent %d)", d, d.Exponent(), want, want.(decimal.Decimal).Exponent())
			}
			if s.isZero() != d.IsZero() {
				t.Errorf("isZero = %v for %s", s.isZero(), d)
			}
		})
	}
}

func TestSumDeltaKinds(t *testing.T) {
	cases := []struct {
		name    string
		vals    []signed
		want    any
		wantErr string
	}{
		{"floats", plus(1.5, float32(0.25), nil), 1.75, ""},
		{"retracted float keeps -0", minus(0.0), math.Copysign(0, -1), ""},
		{"float then exact", plus(1.5, dec("1")), nil, "mixes float and exact values"},
		{"exact then float", plus(int64(1), 1.5), nil, "mixes float and exact values"},
		{"uint64 then float32", plus(uint64(1), float32(1)), nil, "mixes float and exact values"},
		{"string", plus(dec("1"), "7"), nil, "cannot sum a value of Go type string"},
		{"string after float", plus(1.0, "7"), nil, "cannot sum a value of Go type string"},
		{"int32", plus(int32(7)), nil, "cannot sum a value of Go type int32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := sumOf(c.vals)
			_, refErr := refSum(c.vals)
			if (refErr == nil) != (c.wantErr == "") || (refErr != nil && refErr.Error() != c.wantErr) {
				t.Fatalf("reference error %v, test expects %q", refErr, c.wantErr)
			}
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.value(); !sameDelta(got, c.want) {
				t.Errorf("sum = %#v, want %#v", got, c.want)
			}
		})
	}
}

// randomExact draws an integer or decimal from ranges that exercise the
// fast path, its rescaling and its overflows.
func randomExact(rng *rand.Rand) any {
	switch rng.Intn(10) {
	case 0: // near the int64 limits
		v := int64(math.MaxInt64) - rng.Int63n(1000)
		if rng.Intn(2) == 0 {
			v = -v - rng.Int63n(2) // reaches MinInt64
		}
		return v
	case 1:
		if rng.Intn(2) == 0 {
			return uint64(math.MaxUint64) - uint64(rng.Int63n(1000))
		}
		return uint64(rng.Int63n(1000))
	case 2: // long coefficients
		c := new(big.Int).Rand(rng, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(rng.Intn(40)+1)), nil))
		if rng.Intn(2) == 0 {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(rng.Intn(50)-40))
	case 3: // 17 or 18 digits
		c := rng.Int63n(999_999_999_999_999_999)
		if rng.Intn(2) == 0 {
			c = -c
		}
		return decimal.New(c, int32(rng.Intn(8)-6))
	case 4:
		return int64(rng.Intn(2001) - 1000)
	default: // DECIMAL(12,2)-like, with the odd other scale
		s := fmt.Sprintf("%d.%02d", rng.Intn(2_000_000_000)-1_000_000_000, rng.Intn(100))
		if rng.Intn(5) == 0 {
			s = fmt.Sprintf("%d.%0*d", rng.Intn(1000), rng.Intn(6)+1, 7)
		}
		return dec(s)
	}
}

// TestSumDeltaRandom compares random sums, with retractions that often bring
// them back to zero, against the reference decimal.Decimal sums.
func TestSumDeltaRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for trial := range 3000 {
		var vals []signed
		n := rng.Intn(60) + 1
		for range n {
			var v any
			if rng.Intn(10) > 0 {
				v = randomExact(rng)
			}
			sign := int64(1)
			if rng.Intn(3) == 0 {
				sign = -1
			}
			vals = append(vals, signed{v, sign})
			if rng.Intn(40) == 0 && len(vals) < 100 { // retract everything so far: exactly zero
				for _, s := range append([]signed(nil), vals...) {
					vals = append(vals, signed{s.v, -s.sign})
				}
			}
		}
		s, err := sumOf(vals)
		if err != nil {
			t.Fatal(err)
		}
		want, err := refSum(vals)
		if err != nil {
			t.Fatal(err)
		}
		got := s.value()
		if !sameDelta(got, want) {
			t.Fatalf("trial %d: sum of %d values = %v (exponent %d), reference %v (exponent %d)", trial, len(vals), got,
				got.(decimal.Decimal).Exponent(), want, want.(decimal.Decimal).Exponent())
		}
		if s.isZero() != want.(decimal.Decimal).IsZero() {
			t.Fatalf("trial %d: isZero = %v for %v", trial, s.isZero(), want)
		}
	}
}

func sameBatches(a, b *connectors.Batch) error {
	if len(a.Deltas) != len(b.Deltas) {
		return fmt.Errorf("%d deltas, reference %d", len(a.Deltas), len(b.Deltas))
	}
	for i := range a.Deltas {
		x, y := a.Deltas[i], b.Deltas[i]
		if x.Table != y.Table || !reflect.DeepEqual(x.Key, y.Key) || !reflect.DeepEqual(x.Columns, y.Columns) ||
			x.DeleteWhenZero != y.DeleteWhenZero || len(x.Rows) != len(y.Rows) {
			return fmt.Errorf("delta %d: %s %v %v %q with %d rows, reference %s %v %v %q with %d rows", i,
				x.Table, x.Key, x.Columns, x.DeleteWhenZero, len(x.Rows), y.Table, y.Key, y.Columns, y.DeleteWhenZero, len(y.Rows))
		}
		for r := range x.Rows {
			if len(x.Rows[r]) != len(y.Rows[r]) {
				return fmt.Errorf("delta %d row %d: %v, reference %v", i, r, x.Rows[r], y.Rows[r])
			}
			for c := range x.Rows[r] {
				if !sameDelta(x.Rows[r][c], y.Rows[r][c]) {
					return fmt.Errorf("delta %d row %d column %d: %#v, reference %#v", i, r, c, x.Rows[r][c], y.Rows[r][c])
				}
			}
		}
	}
	return nil
}

// TestAggregateMatchesReference runs random batches of inserts, deletes and
// updates (moving rows between groups) through Aggregate and the reference,
// with keys of every kind (integers of several Go types that must share a
// group, strings, decimals, two-column keys) and several counts and sums,
// and requires identical batches.
func TestAggregateMatchesReference(t *testing.T) {
	cols := []string{"k1", "k2", "a", "b", "f"}
	layout := NewLayout(cols)
	keyKinds := []func(rng *rand.Rand) any{
		func(rng *rand.Rand) any { return int64(rng.Intn(40) - 5) },
		func(rng *rand.Rand) any { return uint64(rng.Intn(40)) },
		func(rng *rand.Rand) any { return uint64(math.MaxUint64) - uint64(rng.Intn(3)) },
		func(rng *rand.Rand) any { return int32(rng.Intn(40)) },
		func(rng *rand.Rand) any { return rng.Intn(2) == 0 },
		func(rng *rand.Rand) any { return fmt.Sprint("c", rng.Intn(10)) },
		func(rng *rand.Rand) any { return decimal.New(int64(rng.Intn(5)*10), -int32(rng.Intn(2))) }, // 1.0 = 1
		func(rng *rand.Rand) any { return nil },
	}
	row := func(rng *rand.Rand, float bool) []any {
		r := []any{keyKinds[rng.Intn(len(keyKinds))](rng), keyKinds[rng.Intn(len(keyKinds))](rng), nil, nil, nil}
		if rng.Intn(8) > 0 {
			r[2] = randomExact(rng)
		}
		if rng.Intn(8) > 0 {
			r[3] = int64(rng.Intn(100))
		}
		if float && rng.Intn(8) > 0 {
			r[4] = rng.Float64()*100 - 50
		}
		return r
	}
	setups := []struct {
		groupBy []string
		aggs    []AggSpec
	}{
		{[]string{"k1"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "sa", Func: "sum", Of: "a"}}},
		{[]string{"k1", "k2"}, []AggSpec{{Column: "sa", Func: "sum", Of: "a"}, {Column: "n", Func: "count"},
			{Column: "sb", Func: "sum", Of: "b"}, {Column: "n2", Func: "count"}, {Column: "sf", Func: "sum", Of: "f"}}},
		{[]string{"k2"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "sb", Func: "sum", Of: "b"}, {Column: "sa", Func: "sum", Of: "a"}}},
	}
	rng := rand.New(rand.NewSource(7))
	for si, su := range setups {
		a, err := NewAggregate("t", su.groupBy, su.aggs)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := newRefAggregate("t", su.groupBy, su.aggs)
		if err != nil {
			t.Fatal(err)
		}
		float := si == 1
		for batch := range 200 {
			var live [][]any // rows inserted in this batch, to delete or update
			for range rng.Intn(200) {
				var c Change
				switch op := rng.Intn(4); {
				case op == 0 && len(live) > 0:
					i := rng.Intn(len(live))
					c = Change{Op: schema.Delete, Before: live[i]}
					live = append(live[:i], live[i+1:]...)
				case op == 1 && len(live) > 0:
					i := rng.Intn(len(live))
					after := row(rng, float)
					c = Change{Op: schema.Update, Before: live[i], After: after}
					live[i] = after
				default:
					r := row(rng, float)
					c = Change{Op: schema.Insert, After: r}
					live = append(live, r)
				}
				c.Layout = layout
				err, refErr := a.Process(&c, noNext), ref.Process(&c, noNext)
				if fmt.Sprint(err) != fmt.Sprint(refErr) {
					t.Fatalf("setup %d batch %d: error %v, reference %v", si, batch, err, refErr)
				}
				if err != nil && !strings.Contains(err.Error(), "group key") {
					t.Fatalf("setup %d: unexpected error %v", si, err)
				}
			}
			if a.Pending() != ref.Pending() {
				t.Fatalf("setup %d batch %d: pending %d, reference %d", si, batch, a.Pending(), ref.Pending())
			}
			var got, want connectors.Batch
			if err := a.Flush(&got); err != nil {
				t.Fatal(err)
			}
			if err := ref.Flush(&want); err != nil {
				t.Fatal(err)
			}
			if err := sameBatches(&got, &want); err != nil {
				t.Fatalf("setup %d batch %d: %v", si, batch, err)
			}
			a.Reset()
			ref.Reset()
		}
	}
}

// TestAggregateErrorsMatchReference: the messages of failing sums name the
// table and column as before.
func TestAggregateErrorsMatchReference(t *testing.T) {
	layout := NewLayout(orderCols)
	tbl := schema.NewTable("shop", "orders", nil, nil)
	for _, v := range []any{"7", 1.5} {
		a, _ := NewAggregate("t", []string{"customer_id"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "s", Func: "sum", Of: "amount"}})
		ref, _ := newRefAggregate("t", []string{"customer_id"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "s", Func: "sum", Of: "amount"}})
		for _, amount := range []any{dec("1"), v} {
			c := Change{Op: schema.Insert, Layout: layout, Table: tbl, After: []any{int64(1), int64(2), amount, "new"}}
			err, refErr := a.Process(&c, noNext), ref.Process(&c, noNext)
			if fmt.Sprint(err) != fmt.Sprint(refErr) {
				t.Errorf("error %v, reference %v", err, refErr)
			}
		}
	}
}

// TestAggregateHotPathDoesNotAllocate: a change to a group already in the
// batch allocates nothing.
func TestAggregateHotPathDoesNotAllocate(t *testing.T) {
	cs := benchOrders(1000, 10)
	a, err := NewAggregate("t", []string{"customer_id"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "s", Func: "sum", Of: "amount"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		if err := a.Process(&cs[i], noNext); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(10, func() {
		for i := range cs {
			if err := a.Process(&cs[i], noNext); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per %d changes", allocs, len(cs))
	}
}
