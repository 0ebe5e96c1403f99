package sqlite

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
	"modernc.org/sqlite"

	"github.com/binflow/binflow/connectors/internal/sqlstore"
)

// divScaleIncrement is how many digits a quotient gets past its dividend's
// scale (MySQL's div_precision_increment).
const divScaleIncrement = 4

// registerFunctions adds binflow's SQL functions and collation to every
// connection the "sqlite" driver opens from now on.
func registerFunctions() error {
	for name, fn := range map[string]func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error){
		"binflow_add":     func(_ *sqlite.FunctionContext, a []driver.Value) (driver.Value, error) { return Add(a[0], a[1]) },
		"binflow_div":     func(_ *sqlite.FunctionContext, a []driver.Value) (driver.Value, error) { return Div(a[0], a[1]) },
		"binflow_is_zero": func(_ *sqlite.FunctionContext, a []driver.Value) (driver.Value, error) { return isZero(a[0]), nil },
	} {
		nArgs := int32(2)
		if name == "binflow_is_zero" {
			nArgs = 1
		}
		if err := sqlite.RegisterDeterministicScalarFunction(name, nArgs, fn); err != nil {
			return fmt.Errorf("register SQL function %s: %w", name, err)
		}
	}
	if err := sqlite.RegisterCollationUtf8("binflow_decimal", CompareDecimalText); err != nil {
		return fmt.Errorf("register collation binflow_decimal: %w", err)
	}
	return nil
}

var errOverflow = errors.New("integer overflow")

// Add is binflow_add(a, b): a + b, exactly. Two integers give an integer
// (an error if the sum overflows 64 bits, as in MySQL's BIGINT); anything
// else is read as a decimal and gives decimal text with the larger scale of
// the two. NULL plus anything is NULL.
func Add(a, b any) (any, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		s := ai + bi
		if (s > ai) != (bi > 0) {
			return nil, fmt.Errorf("binflow_add(%d, %d): %w", ai, bi, errOverflow)
		}
		return s, nil
	}
	ad, err := toDecimal(a)
	if err != nil {
		return nil, fmt.Errorf("binflow_add: %w", err)
	}
	bd, err := toDecimal(b)
	if err != nil {
		return nil, fmt.Errorf("binflow_add: %w", err)
	}
	return sqlstore.FormatDecimal(ad.Add(bd)), nil
}

// Div is binflow_div(a, b): a / b as decimal text with a's scale plus 4
// digits (rounded half away from zero), NULL when b is 0 or either is NULL.
func Div(a, b any) (any, error) {
	if a == nil || b == nil || isZero(b) == 1 {
		return nil, nil
	}
	ad, err := toDecimal(a)
	if err != nil {
		return nil, fmt.Errorf("binflow_div: %w", err)
	}
	bd, err := toDecimal(b)
	if err != nil {
		return nil, fmt.Errorf("binflow_div: %w", err)
	}
	scale := max(0, -ad.Exponent()) + divScaleIncrement
	return ad.DivRound(bd, scale).StringFixed(scale), nil
}

func isZero(v any) int64 {
	switch v := v.(type) {
	case int64:
		if v == 0 {
			return 1
		}
	case float64:
		if v == 0 {
			return 1
		}
	case string, []byte:
		if d, err := toDecimal(v); err == nil && d.IsZero() {
			return 1
		}
	}
	return 0
}

func toDecimal(v any) (decimal.Decimal, error) {
	switch v := v.(type) {
	case int64:
		return decimal.NewFromInt(v), nil
	case float64:
		return decimal.NewFromFloat(v), nil
	case string:
		return parseDecimal(v)
	case []byte:
		return parseDecimal(string(v))
	}
	return decimal.Decimal{}, fmt.Errorf("value of type %T is not a number", v)
}

func parseDecimal(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return d, fmt.Errorf("text %q is not a decimal number", s)
	}
	return d, nil
}

// CompareDecimalText is the collation binflow_decimal: two texts that both
// read as decimal numbers compare as numbers, anything else byte by byte.
func CompareDecimalText(a, b string) int {
	if da, err := decimal.NewFromString(a); err == nil {
		if db, err := decimal.NewFromString(b); err == nil {
			if c := da.Cmp(db); c != 0 {
				return c
			}
		}
	}
	return strings.Compare(a, b)
}
