package functions

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
	"github.com/shopspring/decimal"
)

// Expressions that compute values (map's set) follow MySQL's arithmetic, so
// that a derived column equals what the same expression gives in SQL:
//
//   - DECIMAL values are exact decimal.Decimal, and so are number literals
//     with a decimal point (1.2 is exactly 1.2, as in MySQL);
//   - + - * of integers and decimals are exact (an int64 overflow is an
//     error); with a FLOAT or DOUBLE operand the result is a float64;
//   - a / b, unless a float is involved, is a decimal with the scale of a
//     plus 4 (MySQL's default div_precision_increment), rounded half away
//     from zero; division or modulo by zero is NULL;
//   - NULL (nil) in arithmetic gives NULL; comparisons with NULL are false,
//     except x == nil and x != nil;
//   - round, abs, ceil, floor, min, max, int, float, string accept decimals
//     and keep them exact where SQL does; dec("1.10") makes a decimal;
//     coalesce(a, b, ...) is the first non-NULL value; now() is not
//     available (a replayed binlog must compute the same values).
//
// The parser's operators are rewritten into calls of the functions below
// (expr.Patch), so that they see the values' dynamic types.

// exactOps maps the operators rewritten to the functions implementing them.
var exactOps = map[string]string{
	"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod", "**": "_pow", "^": "_pow",
	"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge",
}

// exactPatcher rewrites arithmetic and comparisons into exact calls and
// float literals into decimal constants.
type exactPatcher struct{}

func (exactPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.FloatNode:
		ast.Patch(node, &ast.ConstantNode{Value: decimal.NewFromFloat(n.Value)})
	case *ast.UnaryNode:
		if n.Operator == "-" {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_neg"}, Arguments: []ast.Node{n.Node}})
		}
	case *ast.BinaryNode:
		if fn, ok := exactOps[n.Operator]; ok {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{n.Left, n.Right}})
		}
	}
}

// exactOptions are the expr options of value expressions.
func exactOptions() []expr.Option {
	bin := func(f func(a, b any) (any, error)) func(...any) (any, error) {
		return func(p ...any) (any, error) { return f(p[0], p[1]) }
	}
	cmp := func(f func(c int) bool, fallback func(a, b any) bool) func(...any) (any, error) {
		return func(p ...any) (any, error) {
			a, b := p[0], p[1]
			if a == nil || b == nil {
				return false, nil
			}
			if c, ok := compareNumbers(a, b); ok {
				return f(c), nil
			}
			return fallback(a, b), nil
		}
	}
	opts := []expr.Option{
		// Variables read from a map[string]any without reflection; names
		// are checked against the input by the caller.
		expr.Env(map[string]any{}), expr.AllowUndefinedVariables(),
		expr.Patch(exactPatcher{}),
		expr.DisableBuiltin("now"),
		expr.Function("_add", bin(func(a, b any) (any, error) { return arith('+', a, b) })),
		expr.Function("_sub", bin(func(a, b any) (any, error) { return arith('-', a, b) })),
		expr.Function("_mul", bin(func(a, b any) (any, error) { return arith('*', a, b) })),
		expr.Function("_div", bin(func(a, b any) (any, error) { return arith('/', a, b) })),
		expr.Function("_mod", bin(func(a, b any) (any, error) { return arith('%', a, b) })),
		expr.Function("_pow", bin(func(a, b any) (any, error) {
			if a == nil || b == nil {
				return nil, nil
			}
			return math.Pow(toFloat64(a), toFloat64(b)), nil
		})),
		expr.Function("_eq", bin(func(a, b any) (any, error) { return valuesEqual(a, b), nil })),
		expr.Function("_ne", bin(func(a, b any) (any, error) { return !valuesEqual(a, b), nil })),
		expr.Function("_lt", cmp(func(c int) bool { return c < 0 }, runtime.Less)),
		expr.Function("_le", cmp(func(c int) bool { return c <= 0 }, runtime.LessOrEqual)),
		expr.Function("_gt", cmp(func(c int) bool { return c > 0 }, runtime.More)),
		expr.Function("_ge", cmp(func(c int) bool { return c >= 0 }, runtime.MoreOrEqual)),
		expr.Function("_neg", func(p ...any) (any, error) { return negate(p[0]) }),
		expr.Function("round", fnRound),
		expr.Function("abs", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, errors.New("abs takes one argument")
			}
			if c, ok := compareNumbers(p[0], int64(0)); ok && c < 0 {
				return negate(p[0])
			}
			return exactValue(p[0]), nil
		}),
		expr.Function("ceil", roundingFunc("ceil", math.Ceil, decimal.Decimal.Ceil)),
		expr.Function("floor", roundingFunc("floor", math.Floor, decimal.Decimal.Floor)),
		expr.Function("min", extremum("min", -1)),
		expr.Function("max", extremum("max", +1)),
		expr.Function("int", func(p ...any) (any, error) { return one("int", p, castInt) }),
		expr.Function("float", func(p ...any) (any, error) { return one("float", p, castFloat) }),
		expr.Function("string", func(p ...any) (any, error) { return one("string", p, castString) }),
		expr.Function("dec", func(p ...any) (any, error) { return one("dec", p, castDecimal) }),
		expr.Function("coalesce", func(p ...any) (any, error) {
			for _, v := range p {
				if v != nil {
					return v, nil
				}
			}
			return nil, nil
		}),
	}
	return opts
}

func one(name string, p []any, f func(any) (any, error)) (any, error) {
	if len(p) != 1 {
		return nil, fmt.Errorf("%s takes one argument, got %d", name, len(p))
	}
	return f(p[0])
}

// numKind classifies a value for arithmetic.
type numKind uint8

const (
	notNumber numKind = iota
	intNumber
	decNumber
	floatNumber
)

// number classifies v, converting it to its kind's representation.
func number(v any) (numKind, int64, decimal.Decimal, float64) {
	switch x := v.(type) {
	case int64:
		return intNumber, x, decimal.Decimal{}, 0
	case int:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case int32:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case int16:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case int8:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case uint8:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case uint16:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case uint32:
		return intNumber, int64(x), decimal.Decimal{}, 0
	case uint64:
		if x <= math.MaxInt64 {
			return intNumber, int64(x), decimal.Decimal{}, 0
		}
		return decNumber, 0, decimal.NewFromUint64(x), 0
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return intNumber, int64(x), decimal.Decimal{}, 0
		}
		return decNumber, 0, decimal.NewFromUint64(uint64(x)), 0
	case decimal.Decimal:
		return decNumber, 0, x, 0
	case float64:
		return floatNumber, 0, decimal.Decimal{}, x
	case float32:
		return floatNumber, 0, decimal.Decimal{}, float64(x)
	}
	return notNumber, 0, decimal.Decimal{}, 0
}

func asFloat(k numKind, i int64, d decimal.Decimal, f float64) float64 {
	switch k {
	case intNumber:
		return float64(i)
	case decNumber:
		return decimalFloat(d)
	}
	return f
}

func asDecimal(k numKind, i int64, d decimal.Decimal) decimal.Decimal {
	if k == intNumber {
		return decimal.NewFromInt(i)
	}
	return d
}

func toFloat64(v any) float64 {
	k, i, d, f := number(v)
	if k == notNumber {
		return runtime.ToFloat64(v)
	}
	return asFloat(k, i, d, f)
}

// decimalFloat is d as the nearest float64.
func decimalFloat(d decimal.Decimal) float64 {
	// Exact when the coefficient and the power of ten are exact floats:
	// one correctly rounded division, as strconv would give.
	if e := d.Exponent(); d.NumDigits() <= 15 && e <= 0 && e >= -22 {
		return float64(d.CoefficientInt64()) / math.Pow10(int(-e))
	}
	f, _ := d.Float64()
	return f
}

// divScale is MySQL's div_precision_increment default.
const divScale = 4

// arith applies an arithmetic operator the way MySQL does (see above).
func arith(op byte, a, b any) (any, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	ka, ia, da, fa := number(a)
	kb, ib, db, fb := number(b)
	if ka == notNumber || kb == notNumber {
		return fallbackArith(op, a, b)
	}
	switch {
	case ka == floatNumber || kb == floatNumber:
		x, y := asFloat(ka, ia, da, fa), asFloat(kb, ib, db, fb)
		switch op {
		case '+':
			return x + y, nil
		case '-':
			return x - y, nil
		case '*':
			return x * y, nil
		case '/':
			if y == 0 {
				return nil, nil
			}
			return x / y, nil
		default:
			if y == 0 {
				return nil, nil
			}
			return math.Mod(x, y), nil
		}
	case ka == intNumber && kb == intNumber:
		var r int64
		ok := true
		switch op {
		case '+':
			r, ok = add64(ia, ib)
		case '-':
			if ib == math.MinInt64 {
				ok = false
			} else {
				r, ok = add64(ia, -ib)
			}
		case '*':
			r = ia * ib
			ok = ia == 0 || (r/ia == ib && !(ia == -1 && ib == math.MinInt64) && !(ib == -1 && ia == math.MinInt64))
		case '/':
			if ib == 0 {
				return nil, nil
			}
			return decimal.NewFromInt(ia).DivRound(decimal.NewFromInt(ib), divScale), nil
		default:
			if ib == 0 {
				return nil, nil
			}
			return ia % ib, nil
		}
		if !ok {
			return nil, fmt.Errorf("BIGINT value is out of range in %d %c %d", ia, op, ib)
		}
		return r, nil
	}
	x, y := asDecimal(ka, ia, da), asDecimal(kb, ib, db)
	switch op {
	case '+':
		return x.Add(y), nil
	case '-':
		return x.Sub(y), nil
	case '*':
		return x.Mul(y), nil
	case '/':
		if y.IsZero() {
			return nil, nil
		}
		return x.DivRound(y, max(-x.Exponent(), 0)+divScale), nil
	default:
		if y.IsZero() {
			return nil, nil
		}
		return x.Mod(y), nil
	}
}

// fallbackArith is expr's own arithmetic, for operands that are not numbers
// (string concatenation, time minus time, durations).
func fallbackArith(op byte, a, b any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%v", r)
		}
	}()
	a, b = exactValue(a), exactValue(b)
	switch op {
	case '+':
		return runtime.Add(a, b), nil
	case '-':
		return runtime.Subtract(a, b), nil
	case '*':
		return runtime.Multiply(a, b), nil
	case '/':
		return runtime.Divide(a, b), nil
	}
	return runtime.Modulo(a, b), nil
}

// compareNumbers compares two numbers exactly (floats as floats); ok is
// false unless both are numbers.
func compareNumbers(a, b any) (int, bool) {
	ka, ia, da, fa := number(a)
	kb, ib, db, fb := number(b)
	if ka == notNumber || kb == notNumber {
		return 0, false
	}
	switch {
	case ka == floatNumber || kb == floatNumber:
		x, y := asFloat(ka, ia, da, fa), asFloat(kb, ib, db, fb)
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case ka == intNumber && kb == intNumber:
		switch {
		case ia < ib:
			return -1, true
		case ia > ib:
			return 1, true
		}
		return 0, true
	}
	return asDecimal(ka, ia, da).Cmp(asDecimal(kb, ib, db)), true
}

func valuesEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if c, ok := compareNumbers(a, b); ok {
		return c == 0
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return runtime.Equal(exactValue(a), exactValue(b))
}

func negate(v any) (any, error) {
	switch k, i, d, f := number(v); k {
	case intNumber:
		if i == math.MinInt64 {
			return decimal.NewFromInt(i).Neg(), nil
		}
		return -i, nil
	case decNumber:
		return d.Neg(), nil
	case floatNumber:
		return -f, nil
	}
	if v == nil {
		return nil, nil
	}
	return nil, fmt.Errorf("cannot negate a value of Go type %T", v)
}

// fnRound is ROUND(x[, places]): half away from zero; integers stay
// integers, decimals stay exact.
func fnRound(p ...any) (any, error) {
	if len(p) < 1 || len(p) > 2 {
		return nil, fmt.Errorf("round takes one or two arguments, got %d", len(p))
	}
	places := int64(0)
	if len(p) == 2 {
		k, i, _, _ := number(p[1])
		if k != intNumber {
			return nil, fmt.Errorf("round: places must be an integer, got %T", p[1])
		}
		places = i
	}
	switch k, i, d, f := number(p[0]); k {
	case intNumber:
		if places >= 0 {
			return i, nil
		}
		return decimal.NewFromInt(i).Round(int32(places)), nil
	case decNumber:
		return d.Round(int32(places)), nil
	case floatNumber:
		s := math.Pow10(int(places))
		return math.Round(f*s) / s, nil
	}
	if p[0] == nil {
		return nil, nil
	}
	return nil, fmt.Errorf("round: not a number: %T", p[0])
}

func roundingFunc(name string, ff func(float64) float64, df func(decimal.Decimal) decimal.Decimal) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		if len(p) != 1 {
			return nil, fmt.Errorf("%s takes one argument, got %d", name, len(p))
		}
		switch k, i, d, f := number(p[0]); k {
		case intNumber:
			return i, nil
		case decNumber:
			return df(d), nil
		case floatNumber:
			return ff(f), nil
		}
		if p[0] == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: not a number: %T", name, p[0])
	}
}

// extremum is LEAST (sign -1) or GREATEST (+1) of its arguments, NULL if
// any is NULL; an array argument is searched too.
func extremum(name string, sign int) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		if len(p) == 1 {
			if arr, ok := p[0].([]any); ok {
				p = arr
			}
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("%s needs at least one argument", name)
		}
		best := p[0]
		for _, v := range p {
			if v == nil {
				return nil, nil
			}
			c, ok := compareNumbers(v, best)
			if !ok {
				if runtime.Less(exactValue(v), exactValue(best)) {
					c = -1
				} else if runtime.More(exactValue(v), exactValue(best)) {
					c = 1
				}
			}
			if c*sign > 0 {
				best = v
			}
		}
		return exactValue(best), nil
	}
}

// exactValue presents a typed value to value expressions: DECIMAL stays
// exact, []byte is a string, large unsigned integers are decimals.
func exactValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return decimal.NewFromUint64(x)
	case float32:
		return float64(x)
	}
	return v
}

// outputValue normalises what an expression returned to a row value.
func outputValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, string, decimal.Decimal, float64, time.Time, []byte:
		return v, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case float32:
		return float64(x), nil
	}
	if k, i, d, _ := number(v); k == intNumber {
		return i, nil
	} else if k == decNumber {
		return d, nil
	}
	return nil, fmt.Errorf("an expression produced a value of Go type %T, which no column can hold", v)
}

// Casts (map's cast, and int/float/string/dec in expressions). Like MySQL's
// CAST: to an integer rounds half away from zero; to DECIMAL(P,S) rounds to
// S places and fails if the value needs more than P digits.

type caster func(any) (any, error)

// parseCast reads a cast type: int, uint, float, decimal, decimal(P,S),
// string, date or datetime.
func parseCast(t string) (caster, error) {
	t = strings.ToLower(strings.ReplaceAll(t, " ", ""))
	switch t {
	case "int":
		return castInt, nil
	case "uint":
		return castUint, nil
	case "float":
		return castFloat, nil
	case "decimal":
		return castDecimal, nil
	case "string":
		return castString, nil
	case "date":
		return castDate, nil
	case "datetime":
		return castDatetime, nil
	}
	if rest, ok := strings.CutPrefix(t, "decimal("); ok {
		if ps, ok := strings.CutSuffix(rest, ")"); ok {
			pt, st, _ := strings.Cut(ps, ",")
			p, perr := strconv.Atoi(pt)
			s, serr := strconv.Atoi(st)
			if perr == nil && serr == nil && p >= 1 && p <= 65 && s >= 0 && s <= 30 && s <= p {
				return castDecimalPS(p, s), nil
			}
		}
	}
	return nil, fmt.Errorf("unknown type %q; expected int, uint, float, decimal, decimal(P,S) (P 1 to 65, S 0 to 30 and at most P), string, date or datetime", t)
}

func castInt(v any) (any, error) {
	switch k, i, d, f := number(v); k {
	case intNumber:
		return i, nil
	case decNumber:
		r := d.Round(0)
		if !r.IsInteger() || r.NumDigits() > 19 || r.GreaterThan(decimal.NewFromInt(math.MaxInt64)) || r.LessThan(decimal.NewFromInt(math.MinInt64)) {
			return nil, fmt.Errorf("cannot cast %s to int: out of range", d)
		}
		return r.IntPart(), nil
	case floatNumber:
		r := math.Round(f)
		if r >= math.MaxInt64 || r < math.MinInt64 || math.IsNaN(r) {
			return nil, fmt.Errorf("cannot cast %v to int: out of range", f)
		}
		return int64(r), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string, []byte:
		d, err := decimal.NewFromString(strings.TrimSpace(asString(x)))
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to int", asString(x))
		}
		return castInt(d)
	}
	return nil, fmt.Errorf("cannot cast a value of Go type %T to int", v)
}

func castUint(v any) (any, error) {
	if u, ok := v.(uint64); ok {
		return u, nil
	}
	i, err := castInt(v)
	if err != nil {
		if d, derr := castDecimal(v); derr == nil && d != nil {
			r := d.(decimal.Decimal).Round(0)
			if r.Sign() >= 0 && r.BigInt().IsUint64() {
				return r.BigInt().Uint64(), nil
			}
		}
		return nil, err
	}
	if i == nil {
		return nil, nil
	}
	if i.(int64) < 0 {
		return nil, fmt.Errorf("cannot cast %d to uint: negative", i)
	}
	return uint64(i.(int64)), nil
}

func castFloat(v any) (any, error) {
	switch k, i, d, f := number(v); k {
	case intNumber, decNumber, floatNumber:
		return asFloat(k, i, d, f), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string, []byte:
		f, err := strconv.ParseFloat(strings.TrimSpace(asString(x)), 64)
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to float", asString(x))
		}
		return f, nil
	}
	return nil, fmt.Errorf("cannot cast a value of Go type %T to float", v)
}

func castDecimal(v any) (any, error) {
	switch k, i, d, f := number(v); k {
	case intNumber:
		return decimal.NewFromInt(i), nil
	case decNumber:
		return d, nil
	case floatNumber:
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("cannot cast %v to decimal", f)
		}
		return decimal.NewFromFloat(f), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string, []byte:
		d, err := decimal.NewFromString(strings.TrimSpace(asString(x)))
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to decimal", asString(x))
		}
		return d, nil
	}
	return nil, fmt.Errorf("cannot cast a value of Go type %T to decimal", v)
}

func castDecimalPS(p, s int) caster {
	return func(v any) (any, error) {
		d, err := castDecimal(v)
		if err != nil || d == nil {
			return d, err
		}
		if r, ok := roundSmall(d.(decimal.Decimal), s); ok {
			if r.NumDigits() > p {
				return nil, fmt.Errorf("cannot cast %s to decimal(%d,%d): out of range", d, p, s)
			}
			return r, nil
		}
		r := d.(decimal.Decimal).Round(int32(s))
		// Digits left of the point must fit in p-s.
		if intDigits := r.Truncate(0).Abs(); intDigits.GreaterThanOrEqual(decimal.New(1, int32(p-s))) {
			return nil, fmt.Errorf("cannot cast %s to decimal(%d,%d): out of range", d, p, s)
		}
		return r, nil
	}
}

// roundSmall rounds d half away from zero to s places, with exponent -s,
// in int64 arithmetic; ok is false when that does not fit.
func roundSmall(d decimal.Decimal, s int) (decimal.Decimal, bool) {
	if d.NumDigits() > 18 {
		return decimal.Decimal{}, false
	}
	c, e := d.CoefficientInt64(), int(d.Exponent())
	switch {
	case e == -s:
		return d, true
	case e > -s:
		m, ok := scale10(c, int32(e+s))
		if !ok {
			return decimal.Decimal{}, false
		}
		return decimal.New(m, int32(-s)), true
	case -e-s >= len(pow10):
		return decimal.New(0, int32(-s)), true // smaller than half a unit of the last place
	}
	div := pow10[-e-s]
	q, r := c/div, c%div
	if r < 0 {
		r = -r
	}
	if r >= div-r { // r*2 >= div without overflow
		if c < 0 {
			q--
		} else {
			q++
		}
	}
	return decimal.New(q, int32(-s)), true
}

func castString(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case decimal.Decimal:
		return x.StringFixed(max(-x.Exponent(), 0)), nil
	case time.Time:
		if x.Nanosecond() == 0 {
			return x.UTC().Format("2006-01-02 15:04:05"), nil
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999"), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	}
	if k, i, d, _ := number(v); k == intNumber {
		return strconv.FormatInt(i, 10), nil
	} else if k == decNumber {
		return d.String(), nil
	}
	return fmt.Sprint(v), nil
}

var timeLayouts = []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func castDatetime(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC(), nil
	case string, []byte:
		s := strings.TrimSpace(asString(x))
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("cannot cast %q to datetime", s)
	}
	return nil, fmt.Errorf("cannot cast a value of Go type %T to datetime", v)
}

func castDate(v any) (any, error) {
	t, err := castDatetime(v)
	if err != nil || t == nil {
		return t, err
	}
	tt := t.(time.Time)
	return time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, time.UTC), nil
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}

// exactFn evaluates a value expression over the input row: the k-th
// column the expression reads is in[idx[k]].
type exactFn func(in []any, idx []int) (any, error)

// compileExact compiles the common part of the expression language
// (columns, literals, arithmetic, comparisons, logic, ?:) straight to Go
// closures, with the semantics of the patched program: reading columns by
// index instead of through an environment map, with no VM dispatch or
// per-call argument slices. ok is false when the expression uses anything
// else (function calls, member access, in, ...), which the VM then runs.
func compileExact(n ast.Node, slots map[string]int) (exactFn, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		k, ok := slots[x.Value]
		if !ok {
			return nil, false
		}
		return func(in []any, idx []int) (any, error) { return exactValue(in[idx[k]]), nil }, true
	case *ast.IntegerNode:
		return constant(x.Value), true
	case *ast.FloatNode:
		return constant(decimal.NewFromFloat(x.Value)), true
	case *ast.StringNode:
		return constant(x.Value), true
	case *ast.BoolNode:
		return constant(x.Value), true
	case *ast.NilNode:
		return constant(nil), true
	case *ast.UnaryNode:
		inner, ok := compileExact(x.Node, slots)
		if !ok {
			return nil, false
		}
		switch x.Operator {
		case "-":
			return func(in []any, idx []int) (any, error) {
				v, err := inner(in, idx)
				if err != nil {
					return nil, err
				}
				return negate(v)
			}, true
		case "!", "not":
			return func(in []any, idx []int) (any, error) {
				v, err := inner(in, idx)
				if err != nil {
					return nil, err
				}
				b, isBool := v.(bool)
				if !isBool {
					return nil, fmt.Errorf("invalid operation: ! on %T", v)
				}
				return !b, nil
			}, true
		}
		return nil, false
	case *ast.BinaryNode:
		l, lok := compileExact(x.Left, slots)
		r, rok := compileExact(x.Right, slots)
		if !lok || !rok {
			return nil, false
		}
		return binaryExact(x.Operator, l, r)
	case *ast.ConditionalNode:
		cond, cok := compileExact(x.Cond, slots)
		a, aok := compileExact(x.Exp1, slots)
		b, bok := compileExact(x.Exp2, slots)
		if !cok || !aok || !bok {
			return nil, false
		}
		return func(in []any, idx []int) (any, error) {
			c, err := cond(in, idx)
			if err != nil {
				return nil, err
			}
			t, isBool := c.(bool)
			if !isBool {
				return nil, fmt.Errorf("non-bool condition %T in ?:", c)
			}
			if t {
				return a(in, idx)
			}
			return b(in, idx)
		}, true
	}
	return nil, false
}

func constant(v any) exactFn {
	return func([]any, []int) (any, error) { return v, nil }
}

func binaryExact(op string, l, r exactFn) (exactFn, bool) {
	both := func(f func(a, b any) (any, error)) exactFn {
		return func(in []any, idx []int) (any, error) {
			a, err := l(in, idx)
			if err != nil {
				return nil, err
			}
			b, err := r(in, idx)
			if err != nil {
				return nil, err
			}
			return f(a, b)
		}
	}
	order := func(f func(c int) bool, fallback func(a, b any) bool) exactFn {
		return both(func(a, b any) (v any, err error) {
			if a == nil || b == nil {
				return false, nil
			}
			if c, ok := compareNumbers(a, b); ok {
				return f(c), nil
			}
			defer func() {
				if p := recover(); p != nil {
					v, err = nil, fmt.Errorf("%v", p)
				}
			}()
			return fallback(a, b), nil
		})
	}
	logic := func(and bool) exactFn {
		return func(in []any, idx []int) (any, error) {
			a, err := l(in, idx)
			if err != nil {
				return nil, err
			}
			t, isBool := a.(bool)
			if !isBool {
				return nil, fmt.Errorf("invalid operation: %s on %T", op, a)
			}
			if t != and { // false && x, true || x
				return t, nil
			}
			return r(in, idx)
		}
	}
	switch op {
	case "+", "-", "*", "/", "%":
		o := op[0]
		return both(func(a, b any) (any, error) { return arith(o, a, b) }), true
	case "==":
		return both(func(a, b any) (any, error) { return valuesEqual(a, b), nil }), true
	case "!=":
		return both(func(a, b any) (any, error) { return !valuesEqual(a, b), nil }), true
	case "<":
		return order(func(c int) bool { return c < 0 }, runtime.Less), true
	case "<=":
		return order(func(c int) bool { return c <= 0 }, runtime.LessOrEqual), true
	case ">":
		return order(func(c int) bool { return c > 0 }, runtime.More), true
	case ">=":
		return order(func(c int) bool { return c >= 0 }, runtime.MoreOrEqual), true
	case "&&", "and":
		return logic(true), true
	case "||", "or":
		return logic(false), true
	}
	return nil, false
}
