package cli

import (
	"bytes"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	sqliteconn "github.com/binflow/binflow/connectors/sqlite"
)

// valueForm is how a downstream store holds values, so that verify can
// compare the values a flow computes with those read back. MySQL (read by
// the snapshot reader) and PostgreSQL give typed values: the zero
// valueForm. SQLite keeps exact decimals and times as text.
type valueForm struct {
	// stored turns a computed value into the form the store keeps it in
	// (nil: as it is); a value read back is already in that form.
	stored func(any) any
	// numericText: text that reads as a number orders as a number (the
	// store's MIN and MAX do so: SQLite's binflow_decimal collation).
	numericText bool
}

var sqliteForm = valueForm{stored: sqliteconn.StoredForm, numericText: true}

// key encodes key values so that equal SQL values meet: numbers by exact
// value (5, 5.00 and uint64 5 alike), times in UTC, text and bytes as their
// bytes; computed values first take the store's form, so that a decimal
// meets its text in SQLite.
func (f valueForm) key(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		if f.stored != nil {
			v = f.stored(v)
		}
		b.WriteString(canonicalValue(v))
		b.WriteByte(0)
	}
	return b.String()
}

func canonicalValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "\x01NULL"
	case int64, uint64, int, int32, decimal.Decimal:
		d, _ := asDecimal(x)
		return "n" + d.String()
	case float32, float64:
		return "f" + fmt.Sprint(x)
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return "s" + string(x)
	case string:
		return "s" + x
	}
	return "?" + fmt.Sprint(v)
}

// asDecimal reads a number exactly: Go numbers, booleans (0 and 1) and
// text that reads as a number (a decimal stored as text).
func asDecimal(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case int64:
		return decimal.NewFromInt(x), true
	case int:
		return decimal.NewFromInt(int64(x)), true
	case int32:
		return decimal.NewFromInt(int64(x)), true
	case uint64:
		return decimal.NewFromBigInt(new(big.Int).SetUint64(x), 0), true
	case decimal.Decimal:
		return x, true
	case float64:
		return decimal.NewFromFloat(x), true
	case float32:
		return decimal.NewFromFloat32(x), true
	case bool:
		if x {
			return decimal.NewFromInt(1), true
		}
		return decimal.Zero, true
	case string:
		d, err := decimal.NewFromString(x)
		return d, err == nil
	case []byte:
		d, err := decimal.NewFromString(string(x))
		return d, err == nil
	}
	return decimal.Zero, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, uint64, int, int32, decimal.Decimal, float32, float64:
		return true
	}
	return false
}

// asTime reads a time: a time.Time, or one stored as text.
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := sqliteconn.ParseTime(x)
		return t, err == nil
	case []byte:
		t, err := sqliteconn.ParseTime(string(x))
		return t, err == nil
	}
	return time.Time{}, false
}

// decimal is v as a number (0 when it is none: NULL, or text that is not
// a number).
func (valueForm) decimal(v any) decimal.Decimal {
	d, _ := asDecimal(v)
	return d
}

// add adds a delta to a stored value, as the connector's delta does.
func (f valueForm) add(a, b any) any {
	if a == nil {
		return b
	}
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return x + y
		}
	}
	return f.decimal(a).Add(f.decimal(b))
}

func (f valueForm) isZero(v any) bool { return v == nil || f.decimal(v).IsZero() }

// compare orders two values of one column: numbers (exactly, as
// decimals), times, then strings and bytes by their bytes (binary
// collation: verify's min and max of text columns assume it), where one
// side may be the stored text of a number or time.
func (f valueForm) compare(a, b any) (int, error) {
	if isNumber(a) || isNumber(b) || (f.numericText && isNumericText(a) && isNumericText(b)) {
		x, okA := asDecimal(a)
		y, okB := asDecimal(b)
		if okA && okB {
			return x.Cmp(y), nil
		}
	}
	_, aTime := a.(time.Time)
	_, bTime := b.(time.Time)
	if aTime || bTime {
		x, okA := asTime(a)
		y, okB := asTime(b)
		if okA && okB {
			return x.Compare(y), nil
		}
	}
	x, okA := asText(a)
	y, okB := asText(b)
	if okA && okB {
		return bytes.Compare(x, y), nil
	}
	return 0, fmt.Errorf("cannot order %T and %T", a, b)
}

func isNumericText(v any) bool {
	switch v.(type) {
	case string, []byte:
		_, ok := asDecimal(v)
		return ok
	}
	return false
}

func asText(v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	}
	return nil, false
}

// same compares a recomputed value with a derived one as SQL would after
// storing it: numbers by value, times to the microsecond, text and bytes
// by their bytes.
func (valueForm) same(want, got any) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	switch w := want.(type) {
	case int64, uint64, int, int32, decimal.Decimal, float32, float64, bool:
		wd, _ := asDecimal(w)
		gd, ok := asDecimal(got)
		if !ok {
			return false
		}
		if _, typed := got.(decimal.Decimal); typed || isNumericText(got) {
			if wd.Exponent() < gd.Exponent() {
				// The downstream column rounds to its scale (an average's
				// DECIMAL(30,6)), as it did when the connector wrote it.
				wd = wd.Round(-gd.Exponent())
			}
		}
		return wd.Equal(gd)
	case time.Time:
		g, ok := asTime(got)
		return ok && (w.Equal(g) || w.Truncate(time.Microsecond).Equal(g.Truncate(time.Microsecond)))
	case []byte, string:
		x, _ := asText(w)
		if y, ok := asText(got); ok {
			return bytes.Equal(x, y)
		}
	}
	return fmt.Sprint(want) == fmt.Sprint(got)
}
