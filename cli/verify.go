package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/snapshot"
)

// errDifferences makes verify exit 1 after printing the differences.
var errDifferences = errors.New("the derived tables differ from the recomputation")

// verifyShown bounds the rows printed per kind of difference and table.
const verifyShown = 20

// verify recomputes a flow from the upstream and compares the result with
// its derived tables, while binflow may be running:
//
//  1. in one consistent read of the downstream: the flow's checkpoint C and
//     its derived tables (the derived state as of C);
//  2. a consistent view of the upstream at P (P ≥ C);
//  3. the binlog from C to P through the flow's chain, applied in memory to
//     the derived tables read in 1: the derived state as of P;
//  4. every row of the flow's tables in the view, through a fresh chain,
//     applied in memory to empty tables: the flow's result as of P;
//  5. 3 and 4 compared row by row (the columns the flow writes).
func verify(ctx context.Context, cfg *config.Config, reg *functions.Registry, name string, out io.Writer) error {
	f, err := findFlow(cfg, name)
	if err != nil {
		return err
	}
	if err := ownTables(cfg, f); err != nil {
		return err
	}
	if d := cfg.Downstream.Driver; d != "" && d != "mysql" {
		return fmt.Errorf("verify reads derived tables from MySQL or MariaDB downstreams only; downstream.driver is %q", d)
	}
	src, err := canal.NewSource(ctx, upstreamOptions(cfg, zerolog.Nop()))
	if err != nil {
		return err
	}
	defer src.Close()
	lookups := newLookupReaders(cfg)
	defer lookups.Close()
	chains := make([]*functions.Chain, 2)
	for i := range chains {
		specs, err := flow.BuildSpecs(ctx, []config.Flow{f}, reg, src, lookups.Open)
		if err != nil {
			return err
		}
		chains[i] = specs[0].Chain
	}
	up, err := snapshot.Open(ctx, snapshotOptions(cfg, upstreamOptions(cfg, zerolog.Nop())))
	if err != nil {
		return err
	}
	defer up.Close()
	down, err := snapshot.Open(ctx, downstreamReaderOptions(cfg))
	if err != nil {
		return err
	}
	defer down.Close()

	// 1. The derived tables as of the flow's checkpoint.
	keys := map[string][]string{}
	for _, t := range functions.Tables(f) {
		if t.What == "sink" && f.Functions[t.Index].Mode == config.ModeAppend {
			continue // refused below, when the batches reach it
		}
		keys[qualify(cfg, t.Name)] = t.Key
	}
	derived := newMemStore(keys)
	dview, err := down.BeginRead(ctx)
	if err != nil {
		return err
	}
	var cp schema.Position
	err = dview.QueryRow(ctx, "SELECT binlog_file, binlog_pos FROM binflow_checkpoints WHERE flow = ?", name).Scan(&cp.File, &cp.Pos)
	if errors.Is(err, sql.ErrNoRows) {
		dview.Close()
		return fmt.Errorf("flow %s has no checkpoint yet (not started, or its snapshot is not done): nothing to verify", name)
	}
	if err != nil {
		dview.Close()
		return fmt.Errorf("read the checkpoint of flow %s: %w", name, err)
	}
	for table, key := range keys {
		n, err := derived.load(ctx, down, dview, table, key)
		if err != nil {
			dview.Close()
			return err
		}
		fmt.Fprintf(out, "derived %s: %d rows at checkpoint %s\n", table, n, cp)
	}
	dview.Close()

	// 2. The upstream at P.
	view, err := up.Begin(ctx)
	if err != nil {
		return err
	}
	defer view.Close()
	if view.Pos.Compare(cp) < 0 {
		return fmt.Errorf("flow %s's checkpoint %s is ahead of the upstream (%s): another server's?", name, cp, view.Pos)
	}

	// 3. The derived tables brought from C to P.
	replay := &memApplier{chain: chains[0], store: derived, qualify: func(t string) string { return qualify(cfg, t) }}
	tables := map[string]bool{}
	for _, t := range f.Tables {
		tables[t] = true
	}
	var layouts functions.Layouts
	layouts = functions.Layouts{}
	txns := 0
	err = up.StreamUntil(ctx, cp, view.Pos, func(_ context.Context, txn *schema.Txn) error {
		txns++
		for i := range txn.Rows {
			row := &txn.Rows[i]
			if !tables[row.Table.FullName()] {
				continue
			}
			ch := functions.Change{Op: row.Op, Layout: layouts.Of(row.Table), Table: row.Table, Before: row.Before, After: row.After, Txn: txn, Seq: i}
			if err := replay.process(&ch); err != nil {
				return fmt.Errorf("binlog at %s: %w", txn.End, err)
			}
		}
		return nil
	})
	if err == nil {
		err = replay.flush()
	}
	if err != nil {
		return fmt.Errorf("replay the binlog from %s to %s: %w", cp, view.Pos, err)
	}
	fmt.Fprintf(out, "upstream snapshot at %s; %d transaction(s) since the checkpoint replayed over the derived rows\n", view.Pos, txns)

	// 4. The flow recomputed from the snapshot.
	expected := newMemStore(keys)
	recompute := &memApplier{chain: chains[1], store: expected, qualify: replay.qualify}
	var rows int
	for _, name := range f.Tables {
		t, err := up.Table(ctx, name)
		if err != nil {
			return err
		}
		layout := layouts.Of(t.Schema)
		var after []any
		for {
			chunk, err := view.Chunk(ctx, t, after, cfg.Snapshot.ChunkRows)
			if err != nil {
				return err
			}
			for _, row := range chunk {
				ch := functions.Change{Op: schema.Insert, Layout: layout, Table: t.Schema, After: row}
				if err := recompute.process(&ch); err != nil {
					return fmt.Errorf("table %s: %w", name, err)
				}
			}
			rows += len(chunk)
			if len(chunk) < cfg.Snapshot.ChunkRows {
				break
			}
			after = t.KeyOf(chunk[len(chunk)-1])
		}
	}
	if err := recompute.flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "recomputed flow %s from %d upstream row(s)\n", name, rows)

	// 5. The comparison.
	differences := 0
	for _, table := range slices.Sorted(func(yield func(string) bool) {
		for t := range keys {
			if !yield(t) {
				return
			}
		}
	}) {
		differences += compareTables(out, table, expected.tables[table], derived.tables[table])
	}
	if differences > 0 {
		fmt.Fprintf(out, "flow %s: %d difference(s)\n", name, differences)
		return errDifferences
	}
	fmt.Fprintf(out, "flow %s: derived tables match the recomputation at %s\n", name, view.Pos)
	return nil
}

// memStore holds tables in memory, keyed by their key columns: the result
// of applying batches as the downstream would.
type memStore struct {
	keys   map[string][]string // table -> key columns
	tables map[string]*memTable
}

type memTable struct {
	key  []string
	rows map[string]map[string]any // canonical key -> column -> value
}

func newMemStore(keys map[string][]string) *memStore {
	return &memStore{keys: keys, tables: map[string]*memTable{}}
}

func (m *memStore) table(name string) *memTable {
	t, ok := m.tables[name]
	if !ok {
		t = &memTable{key: m.keys[name], rows: map[string]map[string]any{}}
		m.tables[name] = t
	}
	return t
}

// rowsWith returns the rows of t whose columns cols hold one of keys: by
// key when cols are t's key, else by a scan.
func (t *memTable) rowsWith(cols []string, keys [][]any) []map[string]any {
	var out []map[string]any
	if slices.Equal(cols, t.key) {
		for _, k := range keys {
			if vals, ok := t.rows[canonicalKey(k)]; ok {
				out = append(out, vals)
			}
		}
		return out
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[canonicalKey(k)] = true
	}
	for _, vals := range t.rows {
		if want[canonicalKey(valuesOf(vals, cols))] {
			out = append(out, vals)
		}
	}
	return out
}

// groupBy returns the rows of t whose columns cols hold one of keys, by
// those values.
func (t *memTable) groupBy(cols []string, keys [][]any) map[string][]map[string]any {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[canonicalKey(k)] = true
	}
	out := map[string][]map[string]any{}
	for _, vals := range t.rows {
		if k := canonicalKey(valuesOf(vals, cols)); want[k] {
			out[k] = append(out[k], vals)
		}
	}
	return out
}

func valuesOf(vals map[string]any, cols []string) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = vals[c]
	}
	return out
}

// load reads a derived table, in the view, keyed by key.
func (m *memStore) load(ctx context.Context, r *snapshot.Reader, v *snapshot.View, table string, key []string) (int, error) {
	t, err := r.Table(ctx, table)
	if err != nil {
		return 0, fmt.Errorf("derived table %s: %w", table, err)
	}
	idx, err := t.Schema.Resolve(key)
	if err != nil {
		return 0, err
	}
	mt := m.table(table)
	n := 0
	var after []any
	for {
		chunk, err := v.Chunk(ctx, t, after, 10000)
		if err != nil {
			return n, err
		}
		for _, row := range chunk {
			vals := make(map[string]any, len(row))
			for i, c := range t.Schema.Columns {
				vals[c.Name] = row[i]
			}
			k := make([]any, len(idx))
			for i, j := range idx {
				k[i] = row[j]
			}
			mt.rows[canonicalKey(k)] = vals
		}
		n += len(chunk)
		if len(chunk) < 10000 {
			return n, nil
		}
		after = t.KeyOf(chunk[len(chunk)-1])
	}
}

// memApplier runs changes through a chain and applies its batches to a
// memStore every so many changes.
type memApplier struct {
	chain   *functions.Chain
	store   *memStore
	qualify func(string) string
	n       int
}

func (a *memApplier) process(ch *functions.Change) error {
	if err := a.chain.Process(ch); err != nil {
		return err
	}
	if a.n++; a.n%50000 == 0 {
		return a.flush()
	}
	return nil
}

func (a *memApplier) flush() error {
	var b connectors.Batch
	if err := a.chain.Flush(&b); err != nil {
		return err
	}
	a.chain.Reset()
	return a.store.apply(&b, a.qualify)
}

// apply applies a batch as connectors/mysql does: deletes, upserts,
// inserts, deltas (and delete-when-zero), recomputes.
func (m *memStore) apply(b *connectors.Batch, qualify func(string) string) error {
	for _, d := range b.Deletes {
		t := m.table(qualify(d.Table))
		for _, k := range d.Keys {
			delete(t.rows, canonicalKey(k))
		}
	}
	for _, u := range b.Upserts {
		t := m.table(qualify(u.Table))
		idx := indexesOf(u.Columns, u.Key)
		for _, row := range u.Rows {
			vals := make(map[string]any, len(row))
			for i, c := range u.Columns {
				vals[c] = row[i]
			}
			t.rows[canonicalKey(pick(row, idx))] = vals
		}
	}
	if len(b.Inserts) > 0 {
		return errors.New("verify does not support append-mode sinks (their rows have no key to compare by)")
	}
	for _, d := range b.Deltas {
		t := m.table(qualify(d.Table))
		nk := len(d.Key)
		for _, row := range d.Rows {
			k := canonicalKey(row[:nk])
			vals, ok := t.rows[k]
			if !ok {
				vals = make(map[string]any, nk+len(d.Columns))
				for i, c := range d.Key {
					vals[c] = row[i]
				}
				t.rows[k] = vals
			}
			for i, c := range d.Columns {
				vals[c] = addValues(vals[c], row[nk+i])
			}
			if d.DeleteWhenZero != "" && isZero(vals[d.DeleteWhenZero]) {
				delete(t.rows, k)
			}
		}
	}
	for _, rc := range b.Recomputes {
		t := m.table(qualify(rc.Table))
		// The state rows of the recomputed keys, per state table, read once.
		groups := map[string]map[string][]map[string]any{}
		for _, set := range rc.Set {
			if set.Func == "min" || set.Func == "max" || set.Func == "count" {
				if _, done := groups[set.State]; !done {
					groups[set.State] = m.table(qualify(set.State)).groupBy(rc.Key, rc.Keys)
				}
			}
		}
		for _, vals := range t.rowsWith(rc.Key, rc.Keys) {
			for _, set := range rc.Set {
				v, err := m.recomputed(qualify, rc, set, vals, groups[set.State])
				if err != nil {
					return fmt.Errorf("recompute %s.%s: %w", rc.Table, set.Column, err)
				}
				vals[set.Column] = v
			}
		}
	}
	return nil
}

// recomputed is the value a connector's recompute gives one column of a
// row: a ratio of two of its columns, an aggregate of the state rows of its
// key, or the matching state row's column (a join).
func (m *memStore) recomputed(qualify func(string) string, rc connectors.Recompute, set connectors.Computed, row map[string]any, groups map[string][]map[string]any) (any, error) {
	switch set.Func {
	case "div":
		num, den := toDecimal(row[set.Num]), toDecimal(row[set.Den])
		if den.IsZero() {
			return nil, nil
		}
		return num.DivRound(den, 16), nil
	case "lookup":
		state := m.table(qualify(set.State))
		match := valuesOf(row, set.Match)
		for _, v := range match {
			if v == nil {
				return nil, nil
			}
		}
		found := state.rowsWith(set.StateKey, [][]any{match})
		if len(found) == 0 {
			return nil, nil
		}
		return found[0][set.Of], nil
	case "min", "max", "count":
		var best any
		n := int64(0)
		for _, s := range groups[canonicalKey(valuesOf(row, rc.Key))] {
			n++
			v := s[set.Of]
			if v == nil {
				continue
			}
			if best == nil {
				best = v
				continue
			}
			c, err := compareValues(v, best)
			if err != nil {
				return nil, err
			}
			if (set.Func == "min" && c < 0) || (set.Func == "max" && c > 0) {
				best = v
			}
		}
		if set.Func == "count" {
			return n, nil
		}
		return best, nil
	}
	return nil, fmt.Errorf("unknown func %q", set.Func)
}

// compareValues orders two values of one column: numbers (exactly, as
// decimals), times, then strings and bytes by their bytes (binary
// collation: verify's min and max of text columns assume it).
func compareValues(a, b any) (int, error) {
	switch x := a.(type) {
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), nil
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y), nil
		}
	case int64, uint64, decimal.Decimal, float64, float32:
		return toDecimal(a).Cmp(toDecimal(b)), nil
	}
	return 0, fmt.Errorf("cannot order %T and %T", a, b)
}

func indexesOf(columns, names []string) []int {
	idx := make([]int, len(names))
	for i, n := range names {
		idx[i] = slices.Index(columns, n)
	}
	return idx
}

func pick(row []any, idx []int) []any {
	out := make([]any, len(idx))
	for i, j := range idx {
		if j >= 0 {
			out[i] = row[j]
		}
	}
	return out
}

// canonicalKey encodes key values so that equal SQL values meet: numbers by
// exact value (5, 5.00 and uint64 5 alike), times in UTC, text and bytes as
// their bytes.
func canonicalKey(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
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
		return "n" + toDecimal(x).String()
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

func toDecimal(v any) decimal.Decimal {
	switch x := v.(type) {
	case int64:
		return decimal.NewFromInt(x)
	case int:
		return decimal.NewFromInt(int64(x))
	case int32:
		return decimal.NewFromInt(int64(x))
	case uint64:
		return decimal.NewFromBigInt(new(big.Int).SetUint64(x), 0)
	case decimal.Decimal:
		return x
	case float64:
		return decimal.NewFromFloat(x)
	case float32:
		return decimal.NewFromFloat32(x)
	}
	return decimal.Zero
}

func addValues(a, b any) any {
	if a == nil {
		return b
	}
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return x + y
		}
	}
	return toDecimal(a).Add(toDecimal(b))
}

func isZero(v any) bool { return v == nil || toDecimal(v).IsZero() }

// sameValue compares a recomputed value with a derived one as SQL would
// after storing it: numbers by value, times to the microsecond.
func sameValue(want, got any) bool {
	switch {
	case want == nil || got == nil:
		return want == nil && got == nil
	}
	switch w := want.(type) {
	case int64, uint64, int, int32, decimal.Decimal, float32, float64:
		wd, gd := toDecimal(w), toDecimal(got)
		if g, ok := got.(decimal.Decimal); ok && wd.Exponent() < g.Exponent() {
			// The downstream column rounds to its scale (an average's
			// DECIMAL(30,6)), as it did when the connector wrote it.
			wd = wd.Round(-g.Exponent())
		}
		return wd.Equal(gd)
	case time.Time:
		g, ok := got.(time.Time)
		return ok && (w.Equal(g) || w.Truncate(time.Microsecond).Equal(g.Truncate(time.Microsecond)))
	case []byte:
		return bytes.Equal(w, []byte(fmt.Sprint(got))) || fmt.Sprint(got) == string(w)
	case string:
		if g, ok := got.([]byte); ok {
			return w == string(g)
		}
	}
	return fmt.Sprint(want) == fmt.Sprint(got)
}

// compareTables prints the rows of one table that differ and returns how
// many do.
func compareTables(out io.Writer, table string, want, got *memTable) int {
	if want == nil {
		want = &memTable{}
	}
	if got == nil {
		got = &memTable{}
	}
	var missing, extra, differ []string
	for _, k := range sortedKeys(want.rows) {
		w := want.rows[k]
		g, ok := got.rows[k]
		if !ok {
			missing = append(missing, formatRow(w, nil))
			continue
		}
		var cols []string
		for _, c := range sortedKeys(w) {
			if !sameValue(w[c], g[c]) {
				cols = append(cols, fmt.Sprintf("%s: %s, want %s", c, showValue(g[c]), showValue(w[c])))
			}
		}
		if len(cols) > 0 {
			differ = append(differ, formatRow(w, nil)+"  ("+strings.Join(cols, "; ")+")")
		}
	}
	for _, k := range sortedKeys(got.rows) {
		if _, ok := want.rows[k]; !ok {
			extra = append(extra, formatRow(got.rows[k], nil))
		}
	}
	fmt.Fprintf(out, "%s: %d row(s) expected, %d derived: %d missing, %d extra, %d differing\n", table, len(want.rows), len(got.rows), len(missing), len(extra), len(differ))
	for _, l := range []struct {
		what string
		rows []string
	}{{"missing", missing}, {"extra  ", extra}, {"differs", differ}} {
		for i, r := range l.rows {
			if i == verifyShown {
				fmt.Fprintf(out, "  ... %d more %s\n", len(l.rows)-verifyShown, strings.TrimSpace(l.what))
				break
			}
			fmt.Fprintf(out, "  %s %s\n", l.what, r)
		}
	}
	return len(missing) + len(extra) + len(differ)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatRow(vals map[string]any, _ []string) string {
	parts := make([]string, 0, len(vals))
	for _, c := range sortedKeys(vals) {
		parts = append(parts, c+"="+showValue(vals[c]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case []byte:
		return fmt.Sprintf("%q", x)
	case string:
		return fmt.Sprintf("%q", x)
	case decimal.Decimal:
		return x.String()
	}
	return fmt.Sprint(v)
}
