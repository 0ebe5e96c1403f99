package functions

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/schema"
)

// RowReader reads one row of a table by the values of the columns it was
// opened on: the upstream replica or the downstream, for a lookup.
type RowReader interface {
	// Row returns the looked-up columns of the row matching key, and
	// whether there is one.
	Row(ctx context.Context, key []any) ([]any, bool, error)
	// Retryable says whether a failed read may succeed later.
	Retryable(err error) bool
}

// RowReaders opens readers for lookups: from is "upstream" or
// "downstream", table the table read, on the columns matched, columns those
// returned.
type RowReaders func(ctx context.Context, from, table string, on, columns []string) (RowReader, error)

// Lookup (KisFlow's load mode) enriches each row with columns of the row of
// another table (on the upstream replica or the downstream) whose columns
// match some of its own, read when the row is processed, through a bounded
// cache. Its semantics, which its documentation states for users:
//
//   - the value is the looked-up row as it is when binflow processes the
//     change (or up to cache_ttl older), not as it was when the upstream
//     wrote it; replaying a batch after a crash may read newer values;
//   - a later change of the looked-up row does not update rows already
//     written (a join does that);
//   - a row without a match gets NULL (missing = "null"), is dropped like a
//     row a filter rejects (missing = "drop": an update deletes the row
//     written before), or stops the flow (missing = "fail").
//
// Before images are not looked up (their looked-up columns are NULL): the
// value applied then cannot be read again. So only functions that need no
// before image's looked-up values may follow (project, map, sinks that do
// not key on them); Build refuses the others.
type Lookup struct {
	ctx      context.Context
	reader   RowReader
	table    string
	rowOn    []string
	names    []string
	missing  string
	resolve  resolver
	adds     addedColumns
	cache    *lru.Cache[string, cachedRow] // nil: no cache
	cacheTTL time.Duration                 // 0: entries never expire
	keyBuf   []byte
	keyVals  []any
	retryMax time.Duration
	slab     valueSlab
	scratch  Change // the change passed on: next may not keep it
}

// LookupConfig configures a Lookup.
type LookupConfig struct {
	Table     string
	RowOn     []string // the row's columns matched ...
	Names     []string // ... and the looked-up columns' names in the row
	Missing   string   // "null" (default), "drop" or "fail"
	CacheRows int      // 0: no cache
	CacheTTL  time.Duration
}

// NewLookup builds a lookup reading through reader.
func NewLookup(ctx context.Context, reader RowReader, c LookupConfig) (*Lookup, error) {
	if c.Missing == "" {
		c.Missing = config.MissingNull
	}
	l := &Lookup{ctx: ctx, reader: reader, table: c.Table, rowOn: c.RowOn, names: c.Names, missing: c.Missing,
		resolve: newResolver("lookup "+c.Table, c.RowOn), adds: newAddedColumns("lookup "+c.Table, "looked-up", c.RowOn, c.Names),
		keyVals: make([]any, len(c.RowOn)), retryMax: 5 * time.Second}
	if c.CacheRows > 0 {
		cache, err := lru.New[string, cachedRow](c.CacheRows)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: cache: %w", c.Table, err)
		}
		l.cache, l.cacheTTL = cache, c.CacheTTL
	}
	return l, nil
}

// cachedRow is a looked-up row (nil: no match) and when it was read. Expiry
// is checked on use: golang-lru's expirable cache runs a goroutine per
// cache that never stops.
type cachedRow struct {
	vals []any
	read time.Time
}

// Output adds the looked-up columns.
func (l *Lookup) Output(in []string) ([]string, error) { return l.adds.output(in) }

// Process looks up the after image's match and passes the change on with
// the looked-up columns added.
func (l *Lookup) Process(c *Change, next Next) error {
	out, err := l.adds.layout(c.Layout)
	if err != nil {
		return err
	}
	extended := &l.scratch
	*extended = *c
	extended.Layout = out
	extended.Before = l.extend(c.Before, nil)
	if c.After != nil {
		idx, err := l.resolve.indexes(c)
		if err != nil {
			return err
		}
		vals, found, err := l.row(c.After, idx)
		if err != nil {
			return err
		}
		if !found {
			switch l.missing {
			case config.MissingFail:
				return fmt.Errorf("lookup %s: no row matches %s = %v", l.table, l.rowOn, l.keyVals)
			case config.MissingDrop:
				if c.Before == nil {
					return nil
				}
				extended.Op, extended.After = schema.Delete, nil
				return next(extended)
			}
		}
		extended.After = l.extend(c.After, vals)
	}
	return next(extended)
}

func (l *Lookup) extend(row, vals []any) []any {
	if row == nil {
		return nil
	}
	out := l.slab.take(len(row) + len(l.names))
	copy(out, row)
	copy(out[len(row):], vals)
	return out
}

// row reads the looked-up columns for the row's match, through the cache,
// retrying reads that may succeed later with backoff until the flow stops.
func (l *Lookup) row(row []any, idx []int) ([]any, bool, error) {
	for i, j := range idx {
		l.keyVals[i] = row[j]
		if row[j] == nil {
			return nil, false, nil // NULL matches nothing
		}
	}
	if l.cache != nil {
		var err error
		if l.keyBuf, err = appendKeyOf(l.keyBuf[:0], row, idx); err != nil {
			return nil, false, fmt.Errorf("lookup %s: %w", l.table, err)
		}
		if e, ok := l.cache.Get(string(l.keyBuf)); ok && (l.cacheTTL == 0 || time.Since(e.read) < l.cacheTTL) {
			return e.vals, e.vals != nil, nil
		}
	}
	wait := 100 * time.Millisecond
	for {
		vals, found, err := l.reader.Row(l.ctx, l.keyVals)
		if err == nil {
			if l.cache != nil {
				l.cache.Add(string(l.keyBuf), cachedRow{vals: vals, read: time.Now()})
			}
			return vals, found, nil
		}
		if !l.reader.Retryable(err) || l.ctx.Err() != nil {
			return nil, false, fmt.Errorf("lookup %s by %v: %w", l.table, l.keyVals, err)
		}
		select {
		case <-l.ctx.Done():
			return nil, false, fmt.Errorf("lookup %s by %v: %w (retrying stopped: %w)", l.table, l.keyVals, err, l.ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, l.retryMax)
	}
}
