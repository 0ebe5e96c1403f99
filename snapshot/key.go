package snapshot

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// keyValue is one primary-key value in its JSON form: its Go type and the
// value as text, so that a key decodes to exactly the value it was.
type keyValue struct {
	T string `json:"t"` // i int64, u uint64, s string, b []byte (base64), d decimal, t time (RFC 3339), f float64, g float32, n nil
	V string `json:"v,omitempty"`
}

// EncodeKey turns a primary key into text for a progress record.
func EncodeKey(key []any) (string, error) {
	if key == nil {
		return "", nil
	}
	out := make([]keyValue, len(key))
	for i, v := range key {
		switch x := v.(type) {
		case nil:
			out[i] = keyValue{T: "n"}
		case int64:
			out[i] = keyValue{T: "i", V: strconv.FormatInt(x, 10)}
		case uint64:
			out[i] = keyValue{T: "u", V: strconv.FormatUint(x, 10)}
		case string:
			out[i] = keyValue{T: "s", V: x}
		case []byte:
			out[i] = keyValue{T: "b", V: base64.StdEncoding.EncodeToString(x)}
		case decimal.Decimal:
			out[i] = keyValue{T: "d", V: x.String()}
		case time.Time:
			out[i] = keyValue{T: "t", V: x.UTC().Format(time.RFC3339Nano)}
		case float64:
			out[i] = keyValue{T: "f", V: strconv.FormatFloat(x, 'g', -1, 64)}
		case float32:
			out[i] = keyValue{T: "g", V: strconv.FormatFloat(float64(x), 'g', -1, 32)}
		default:
			return "", fmt.Errorf("primary-key value of Go type %T cannot be recorded", v)
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeKey reads a key written by EncodeKey ("" is no key: nil).
func DecodeKey(s string) ([]any, error) {
	if s == "" {
		return nil, nil
	}
	var in []keyValue
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode recorded key %q: %w", s, err)
	}
	out := make([]any, len(in))
	for i, kv := range in {
		var err error
		switch kv.T {
		case "n":
		case "i":
			out[i], err = strconv.ParseInt(kv.V, 10, 64)
		case "u":
			out[i], err = strconv.ParseUint(kv.V, 10, 64)
		case "s":
			out[i] = kv.V
		case "b":
			out[i], err = base64.StdEncoding.DecodeString(kv.V)
		case "d":
			out[i], err = decimal.NewFromString(kv.V)
		case "t":
			var t time.Time
			t, err = time.Parse(time.RFC3339Nano, kv.V)
			out[i] = t.UTC()
		case "f":
			out[i], err = strconv.ParseFloat(kv.V, 64)
		case "g":
			var f float64
			f, err = strconv.ParseFloat(kv.V, 32)
			out[i] = float32(f)
		default:
			err = fmt.Errorf("unknown value type %q", kv.T)
		}
		if err != nil {
			return nil, fmt.Errorf("decode recorded key %q: value %d: %w", s, i, err)
		}
	}
	return out, nil
}

// KeyComparer orders primary keys of one table as the server does (ORDER
// BY the key): numbers, times and bytes in Go, character columns by asking
// the server with the column's collation (case and trailing spaces may not
// count), with a cache.
type KeyComparer struct {
	r     *Reader
	t     *Table
	mu    sync.Mutex
	cache map[string]int
}

// Comparer returns a KeyComparer for t.
func (r *Reader) Comparer(t *Table) *KeyComparer {
	return &KeyComparer{r: r, t: t, cache: map[string]int{}}
}

// maxCompareCache bounds the collation-comparison cache.
const maxCompareCache = 1 << 16

// Compare returns -1, 0 or +1 as key a sorts before, with or after key b.
func (c *KeyComparer) Compare(ctx context.Context, a, b []any) (int, error) {
	if len(a) != len(b) || len(a) != len(c.t.Key) {
		return 0, fmt.Errorf("table %s: compare keys of %d and %d values, the primary key has %d columns", c.t.Name, len(a), len(b), len(c.t.Key))
	}
	for i, j := range c.t.Key {
		col := &c.t.cols[j]
		n, err := c.compareValue(ctx, col, c.t.Schema.Columns[j].Enum, c.t.Schema.Columns[j].Set, a[i], b[i])
		if err != nil {
			return 0, fmt.Errorf("table %s: compare column %s: %w", c.t.Name, col.name, err)
		}
		if n != 0 {
			return n, nil
		}
	}
	return 0, nil
}

func (c *KeyComparer) compareValue(ctx context.Context, col *column, enum, set []string, a, b any) (int, error) {
	if a == nil || b == nil { // NULL sorts first (a primary key has none)
		switch {
		case a == nil && b == nil:
			return 0, nil
		case a == nil:
			return -1, nil
		}
		return 1, nil
	}
	switch col.dataType {
	case "enum": // ENUM sorts by member index
		return cmp.Compare(slices.Index(enum, fmt.Sprint(a)), slices.Index(enum, fmt.Sprint(b))), nil
	case "set": // SET sorts by its bit value
		return cmp.Compare(setBits(set, fmt.Sprint(a)), setBits(set, fmt.Sprint(b))), nil
	}
	switch x := a.(type) {
	case int64, uint64:
		return compareInts(x, b)
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		if !ok {
			return 0, fmt.Errorf("cannot compare %T with %T", a, b)
		}
		return x.Cmp(y), nil
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, fmt.Errorf("cannot compare %T with %T", a, b)
		}
		return cmp.Compare(x, y), nil
	case float32:
		y, ok := b.(float32)
		if !ok {
			return 0, fmt.Errorf("cannot compare %T with %T", a, b)
		}
		return cmp.Compare(x, y), nil
	case time.Time:
		y, ok := b.(time.Time)
		if !ok {
			return 1, nil // a zero date (a string) sorts before every real one
		}
		return x.Compare(y), nil
	case []byte:
		return bytes.Compare(x, toBytes(b)), nil
	case string:
		if _, isTime := b.(time.Time); isTime {
			return -1, nil
		}
		y := fmt.Sprint(b)
		if col.charset == "" || col.charset == "binary" {
			return strings.Compare(x, y), nil
		}
		return c.collate(ctx, col, x, y)
	}
	return 0, fmt.Errorf("cannot compare values of Go type %T", a)
}

func compareInts(a, b any) (int, error) {
	toBig := func(v any) (*big.Int, error) {
		switch x := v.(type) {
		case int64:
			return big.NewInt(x), nil
		case uint64:
			return new(big.Int).SetUint64(x), nil
		}
		return nil, fmt.Errorf("cannot compare an integer with %T", v)
	}
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y), nil
		}
	}
	x, err := toBig(a)
	if err != nil {
		return 0, err
	}
	y, err := toBig(b)
	if err != nil {
		return 0, err
	}
	return x.Cmp(y), nil
}

func toBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return []byte(fmt.Sprint(v))
}

func setBits(members []string, v string) uint64 {
	var bits uint64
	for _, m := range strings.Split(v, ",") {
		if i := slices.Index(members, m); i >= 0 {
			bits |= 1 << uint(i)
		}
	}
	return bits
}

// collate compares two strings with a column's collation, on the server.
func (c *KeyComparer) collate(ctx context.Context, col *column, a, b string) (int, error) {
	if a == b {
		return 0, nil
	}
	ck := col.name + "\x00" + a + "\x00" + b
	c.mu.Lock()
	n, ok := c.cache[ck]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	expr := "CONVERT(? USING " + col.charset + ") COLLATE " + col.collation
	if err := c.r.db.QueryRowContext(ctx, "SELECT STRCMP("+expr+", "+expr+")", a, b).Scan(&n); err != nil {
		return 0, err
	}
	c.mu.Lock()
	if len(c.cache) >= maxCompareCache {
		clear(c.cache)
	}
	c.cache[ck] = n
	c.mu.Unlock()
	return n, nil
}
