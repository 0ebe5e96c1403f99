package sqlstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors/internal/stmt"
)

// FormatDecimal writes a decimal with the scale it carries: "1.50" stays
// "1.50" (shopspring's String would write "1.5"), so that a DECIMAL(12,2)
// value is stored as the upstream shows it.
func FormatDecimal(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// Uint64 returns v as an int64 when it fits, otherwise as its decimal text
// (for NUMERIC(20,0) or TEXT columns): neither PostgreSQL nor SQLite has an
// unsigned 64-bit integer.
func Uint64(v uint64) any {
	if v <= math.MaxInt64 {
		return int64(v)
	}
	return decimal.NewFromUint64(v).String()
}

// checkRows checks that every row has one value per placeholder of s and no
// NULL in its key.
func checkRows(rows [][]any, s *shape, key []string) error {
	return stmt.CheckRows(rows, s.perRow, s.keyIdx, key)
}

// appendKeyValue appends an encoding of a key value: equal encodings for
// values the store compares equal, in the common cases (the same Go type).
func appendKeyValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, 0)
	case int64:
		return binary.AppendVarint(append(dst, 1), v)
	case int:
		return binary.AppendVarint(append(dst, 1), int64(v))
	case int32:
		return binary.AppendVarint(append(dst, 1), int64(v))
	case uint64:
		if v <= math.MaxInt64 {
			return binary.AppendVarint(append(dst, 1), int64(v))
		}
		return binary.AppendUvarint(append(dst, 2), v)
	case string:
		return stmt.AppendString(append(dst, 3), v)
	case []byte:
		return stmt.AppendString(append(dst, 3), string(v))
	case time.Time:
		return binary.AppendVarint(append(dst, 4), v.UnixNano())
	case decimal.Decimal:
		return stmt.AppendString(append(dst, 5), v.String())
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 6), math.Float64bits(v))
	case bool:
		if v {
			return append(dst, 7, 1)
		}
		return append(dst, 7, 0)
	}
	return stmt.AppendString(append(dst, 8), fmt.Sprintf("%T:%v", v, v))
}

// uniqueRows merges rows that share a key (the first keyLen values, or
// those at keyIdx): with sum set, the values after the key add up (deltas);
// otherwise the last row wins (upserts). It returns rows itself when no key
// repeats.
func uniqueRows(rows [][]any, keyIdx []int, sum bool) ([][]any, error) {
	if len(rows) < 2 {
		return rows, nil
	}
	seen := make(map[string]int, len(rows))
	var buf []byte
	var out [][]any
	for r, row := range rows {
		buf = buf[:0]
		for _, k := range keyIdx {
			buf = appendKeyValue(buf, row[k])
		}
		at, dup := seen[string(buf)]
		if !dup {
			seen[string(buf)] = len(seen)
			if out != nil {
				out = append(out, row)
			}
			continue
		}
		if out == nil { // first duplicate: copy what came before
			out = make([][]any, 0, len(rows))
			out = append(out, rows[:r]...)
		}
		if !sum {
			out[at] = row
			continue
		}
		merged := append([]any(nil), out[at]...)
		for i := len(keyIdx); i < len(row); i++ {
			v, err := addValues(merged[i], row[i])
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", r, err)
			}
			merged[i] = v
		}
		out[at] = merged
	}
	if out == nil {
		return rows, nil
	}
	return out, nil
}

// addValues adds two delta values exactly: int64 while it fits, decimal
// otherwise.
func addValues(a, b any) (any, error) {
	ai, aInt := asInt64(a)
	bi, bInt := asInt64(b)
	if aInt && bInt {
		s := ai + bi
		if (s > ai) == (bi > 0) {
			return s, nil
		}
	}
	ad, err := asDecimal(a)
	if err != nil {
		return nil, err
	}
	bd, err := asDecimal(b)
	if err != nil {
		return nil, err
	}
	return ad.Add(bd), nil
}

func asInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return 0, false
}

func asDecimal(v any) (decimal.Decimal, error) {
	if i, ok := asInt64(v); ok {
		return decimal.NewFromInt(i), nil
	}
	switch v := v.(type) {
	case decimal.Decimal:
		return v, nil
	case uint64:
		return decimal.NewFromUint64(v), nil
	case uint:
		return decimal.NewFromUint64(uint64(v)), nil
	}
	return decimal.Decimal{}, fmt.Errorf("value of type %T, want int64 or decimal.Decimal", v)
}
