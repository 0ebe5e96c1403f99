package functions

import (
	"encoding/binary"
	"fmt"
	"math"
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
		s := x.String() // canonical: no trailing zeros
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
