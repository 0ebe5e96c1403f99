// Package stmt holds what the connectors' write paths share around their
// multi-row statements, whatever the SQL dialect: the kinds of statement,
// the cache of statement shapes and its keys, and the checks of a batch's
// rows before they are sent.
package stmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// Kind tells which multi-row statement a shape is for.
type Kind byte

const (
	Upsert Kind = iota + 1
	Delete
	Delta
	ZeroDelete
	Insert
	Recompute
)

// AppendShapeKey appends an unambiguous encoding of a shape to dst: every
// name is length-prefixed, so no two shapes share a key whatever the names
// contain.
func AppendShapeKey(dst []byte, kind Kind, table string, key, columns []string, zeroColumn string) []byte {
	dst = append(dst, byte(kind))
	dst = AppendString(dst, table)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	for _, k := range key {
		dst = AppendString(dst, k)
	}
	dst = binary.AppendUvarint(dst, uint64(len(columns)))
	for _, c := range columns {
		dst = AppendString(dst, c)
	}
	return AppendString(dst, zeroColumn)
}

// AppendString appends s length-prefixed (unambiguous in a key).
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// RecomputeColumns flattens the Set of a recompute for its shape key: each
// column's names, then its lookup's match and state key columns (the list
// counted, so that no two recomputes share a flattening).
func RecomputeColumns(set []connectors.Computed) []string {
	out := make([]string, 0, 8*len(set))
	for _, c := range set {
		out = append(out, c.Column, c.Func, c.State, c.Of, c.Num, c.Den, strconv.Itoa(len(c.Match)))
		out = append(out, c.Match...)
		out = append(out, c.StateKey...)
	}
	return out
}

// MaxCachedShapes bounds a shape cache; past it the cache starts afresh.
// Each shape holds a few full statements (tens of KB).
const MaxCachedShapes = 512

// Cache keeps a store's statement shapes (S), keyed by AppendShapeKey. It
// is safe for concurrent use; the zero value is ready.
type Cache[S any] struct {
	mu     sync.Mutex
	shapes map[string]S
}

// Get returns the cached shape for key, building it on a miss. A lookup
// that hits does not allocate.
func (c *Cache[S]) Get(key []byte, build func() (S, error)) (S, error) {
	c.mu.Lock()
	s, ok := c.shapes[string(key)]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := build()
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shapes == nil || len(c.shapes) >= MaxCachedShapes {
		c.shapes = make(map[string]S)
	}
	if old, ok := c.shapes[string(key)]; ok {
		return old, nil
	}
	c.shapes[string(key)] = s
	return s, nil
}

// ErrNullKey is returned for a key value that is NULL: NULL never equals
// anything, so such a key would silently match no row.
var ErrNullKey = errors.New("key value is NULL")

// CheckRows checks that every row has perRow values (one per placeholder)
// and no NULL at the key's indexes.
func CheckRows(rows [][]any, perRow int, keyIdx []int, key []string) error {
	for r, row := range rows {
		if len(row) != perRow {
			return fmt.Errorf("row %d has %d values, want %d", r, len(row), perRow)
		}
		for i, k := range keyIdx {
			if row[k] == nil {
				return fmt.Errorf("row %d, key column %q: %w", r, key[i], ErrNullKey)
			}
		}
	}
	return nil
}

// CheckDeltaValues checks that the delta values of each row (after the key)
// are integers or exact decimals: never NULL, never floating point.
func CheckDeltaValues(rows [][]any, keyLen int, columns []string) error {
	for r, row := range rows {
		for i, v := range row[keyLen:] {
			switch v.(type) {
			case int64, int, int32, int16, int8, uint64, uint32, uint16, uint8, uint, decimal.Decimal:
			default:
				return fmt.Errorf("row %d, delta column %q: value of type %T, want int64 or decimal.Decimal", r, columns[i], v)
			}
		}
	}
	return nil
}
