package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// GoStateTable is the downstream table that holds Go functions' state
// (migrations/mysql/0005_binflow_state.sql): one row per (flow, function,
// key) with the value's bytes.
const GoStateTable = "binflow_state"

// MaxStateKey is the longest state key, in bytes.
const MaxStateKey = 255

// State is a Go function's per-flow state: byte values by string key. It is
// saved with the flow's checkpoint: the keys a batch changed are written to
// binflow_state in the batch's own transaction, and a flow starting again
// reads them back before its first change, so after a crash, kill -9
// included, the state is exactly that of the last committed batch, as the
// derived tables are. A State is used by one flow's goroutine only.
//
// State lives in memory as well as downstream: keep it bounded (counters,
// small summaries, last-seen values per key that you also delete).
type State struct {
	flow  string
	id    string // "<index>:<name>": the function's place in the chain
	vals  map[string][]byte
	dirty map[string]bool
	// unavailable, when set, is why the state cannot be saved: Put fails
	// with it rather than keep state that a restart would lose.
	unavailable error
}

func newState(flow string, index int, name string) *State {
	return &State{flow: flow, id: strconv.Itoa(index) + ":" + name, vals: map[string][]byte{}, dirty: map[string]bool{}}
}

// Get returns the value stored under key.
func (s *State) Get(key string) ([]byte, bool) {
	v, ok := s.vals[key]
	return v, ok
}

// Put stores a copy of value under key.
func (s *State) Put(key string, value []byte) error {
	if s.unavailable != nil {
		return s.unavailable
	}
	if len(key) == 0 || len(key) > MaxStateKey {
		return fmt.Errorf("state key %q: must be 1 to %d bytes", truncateKey(key), MaxStateKey)
	}
	s.vals[key] = append(make([]byte, 0, len(value)), value...)
	s.dirty[key] = true
	return nil
}

// Delete removes key.
func (s *State) Delete(key string) {
	if s.unavailable != nil {
		return
	}
	if _, ok := s.vals[key]; ok {
		delete(s.vals, key)
		s.dirty[key] = true
	}
}

// Len is the number of keys held.
func (s *State) Len() int { return len(s.vals) }

// GetInt returns the integer stored under key by PutInt (0, false if none).
func (s *State) GetInt(key string) (int64, bool, error) {
	v, ok := s.vals[key]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("state key %q does not hold an integer: %w", truncateKey(key), err)
	}
	return n, true, nil
}

// PutInt stores an integer (as its decimal text, readable downstream).
func (s *State) PutInt(key string, n int64) error {
	return s.Put(key, strconv.AppendInt(nil, n, 10))
}

// GetJSON decodes the value under key into v; it reports whether the key
// exists.
func (s *State) GetJSON(key string, v any) (bool, error) {
	b, ok := s.vals[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("state key %q: %w", truncateKey(key), err)
	}
	return true, nil
}

// PutJSON stores v as JSON.
func (s *State) PutJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state key %q: %w", truncateKey(key), err)
	}
	return s.Put(key, b)
}

func truncateKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "..."
	}
	return k
}

// flush writes the keys changed since the last reset.
func (s *State) flush(b *connectors.Batch) {
	if len(s.dirty) == 0 {
		return
	}
	key := []string{"flow", "function", "k"}
	up := connectors.Upsert{Table: GoStateTable, Key: key, Columns: []string{"flow", "function", "k", "v"}}
	del := connectors.Delete{Table: GoStateTable, Key: key}
	for _, k := range slices.Sorted(maps.Keys(s.dirty)) {
		if v, ok := s.vals[k]; ok {
			up.Rows = append(up.Rows, []any{s.flow, s.id, []byte(k), v})
		} else {
			del.Keys = append(del.Keys, []any{s.flow, s.id, []byte(k)})
		}
	}
	if len(up.Rows) > 0 {
		b.Upserts = append(b.Upserts, up)
	}
	if len(del.Keys) > 0 {
		b.Deletes = append(b.Deletes, del)
	}
}

// reset forgets which keys changed (they were committed). Values written
// by flush are never modified afterwards: Put stores fresh copies.
func (s *State) reset() { clear(s.dirty) }

// StateLoader reads the Go function state of a flow: function id ("index:
// name") -> key -> value. The mysql connector's Store is one.
type StateLoader interface {
	LoadState(ctx context.Context, flow string) (map[string]map[string][]byte, error)
}

// HasState reports whether the chain holds Go function state to load.
func (c *Chain) HasState() bool { return len(c.states) > 0 }

// LoadState reads the chain's Go function state back from the downstream;
// the flow calls it before its first change. State of functions no longer
// in the chain (moved or renamed) is ignored.
func (c *Chain) LoadState(ctx context.Context, l StateLoader) error {
	if len(c.states) == 0 {
		return nil
	}
	all, err := l.LoadState(ctx, c.flow)
	if err != nil {
		return fmt.Errorf("flow %s: load Go function state: %w", c.flow, err)
	}
	for _, s := range c.states {
		s.vals = all[s.id]
		if s.vals == nil {
			s.vals = map[string][]byte{}
		}
		clear(s.dirty)
	}
	return nil
}

// StateUnavailable makes the chain's Go function state unusable, for a
// downstream that cannot store it: Put fails with err (naming why) instead
// of keeping state a restart would lose.
func (c *Chain) StateUnavailable(err error) {
	for _, s := range c.states {
		s.unavailable = err
	}
}

// Params are a Go function's parameters, from params = { ... } in config.
type Params map[string]string

// String returns the parameter, or def when it is not set.
func (p Params) String(name, def string) string {
	if v, ok := p[name]; ok {
		return v
	}
	return def
}

// Required returns the parameter, or an error naming it when not set.
func (p Params) Required(name string) (string, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return "", fmt.Errorf("params.%s: required", name)
	}
	return v, nil
}

// Int returns the parameter as an integer, def when it is not set.
func (p Params) Int(name string, def int64) (int64, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("params.%s: must be an integer, got %q", name, v)
	}
	return n, nil
}

// Decimal returns the parameter as an exact decimal, def when it is not
// set.
func (p Params) Decimal(name string, def decimal.Decimal) (decimal.Decimal, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	d, err := decimal.NewFromString(strings.TrimSpace(v))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("params.%s: must be a decimal number, got %q", name, v)
	}
	return d, nil
}

// Only fails, naming the first, when a parameter other than names is set:
// a misspelled parameter is an error, not silently ignored.
func (p Params) Only(names ...string) error {
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if !slices.Contains(names, k) {
			return fmt.Errorf("params.%s: unknown parameter (known: %s)", k, strings.Join(names, ", "))
		}
	}
	return nil
}
