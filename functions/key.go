package functions

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/shopspring/decimal"
)

// appendKey appends an unambiguous binary encoding of v to buf, used to
// coalesce changes by key. Equal SQL values of the same Go type encode
// equally; decimals are normalised so 1.50 and 1.5 are one group, as in SQL.
func appendKey(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, 0), nil
	case int64:
		buf = append(buf, 1)
		return binary.BigEndian.AppendUint64(buf, uint64(x)), nil
	case uint64:
		if x <= math.MaxInt64 { // same group as the equal int64
			buf = append(buf, 1)
		} else {
			buf = append(buf, 2)
		}
		return binary.BigEndian.AppendUint64(buf, x), nil
	case string:
		buf = append(buf, 3)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(x)))
		return append(buf, x...), nil
	case []byte:
		buf = append(buf, 3)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(x)))
		return append(buf, x...), nil
	case decimal.Decimal:
		// Canonical: the coefficient without trailing zeros and its
		// exponent when that coefficient fits an int64 (without
		// allocating for the usual DECIMAL), else the decimal's text (no
		// trailing zeros either), so 1.50 and 1.5 are one key.
		if c, e, ok := normalDecimal(x); ok {
			buf = append(buf, 8)
			buf = binary.BigEndian.AppendUint64(buf, uint64(c))
			return binary.BigEndian.AppendUint32(buf, uint32(e)), nil
		}
		s := x.String()
		buf = append(buf, 4)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		return append(buf, s...), nil
	case time.Time:
		buf = append(buf, 5)
		buf = binary.BigEndian.AppendUint64(buf, uint64(x.Unix()))
		return binary.BigEndian.AppendUint32(buf, uint32(x.Nanosecond())), nil
	case float64:
		buf = append(buf, 6)
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(x)), nil
	case float32:
		buf = append(buf, 6)
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(x))), nil
	case int:
		return appendKey(buf, int64(x))
	case int32:
		return appendKey(buf, int64(x))
	case bool:
		if x {
			return appendKey(buf, int64(1))
		}
		return appendKey(buf, int64(0))
	}
	return buf, fmt.Errorf("value of Go type %T cannot be a key", v)
}

// normalDecimal is d as c×10^e with c free of trailing zeros (0 for zero,
// with e = 0), when c fits an int64.
func normalDecimal(d decimal.Decimal) (c int64, e int32, ok bool) {
	if d.NumDigits() <= 18 {
		c, e = d.CoefficientInt64(), d.Exponent()
	} else {
		bc, be := d.Coefficient(), d.Exponent()
		ten, m := big.NewInt(10), new(big.Int)
		for bc.Sign() != 0 {
			q, r := new(big.Int).QuoRem(bc, ten, m)
			if r.Sign() != 0 {
				break
			}
			bc, be = q, be+1
		}
		if !bc.IsInt64() {
			return 0, 0, false
		}
		c, e = bc.Int64(), be
	}
	if c == 0 {
		return 0, 0, true
	}
	for c%10 == 0 {
		c /= 10
		e++
	}
	return c, e, true
}

// appendKeyOf encodes the values at idx of vals.
func appendKeyOf(buf []byte, vals []any, idx []int) ([]byte, error) {
	var err error
	for _, i := range idx {
		if buf, err = appendKey(buf, vals[i]); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
