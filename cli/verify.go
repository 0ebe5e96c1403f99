package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
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
	f, err := ownedFlow(cfg, name)
	if err != nil {
		return err
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

	// 1. The derived tables as of the flow's checkpoint. A MySQL downstream
	// names tables with its database and is read by the snapshot reader
	// (typed as the upstream's rows are); the other stores read themselves.
	tableName := func(t string) string { return t }
	if cfg.Downstream.Driver == config.DriverMySQL {
		tableName = func(t string) string { return qualify(cfg, t) }
	}
	keys := map[string][]string{}
	for _, t := range functions.Tables(f) {
		if t.What == "sink" && f.Functions[t.Index].Mode == config.ModeAppend {
			continue // refused below, when the batches reach it
		}
		keys[tableName(t.Name)] = t.Key
	}
	var (
		derived *memStore
		cp      schema.Position
		vals    valueForm
	)
	if cfg.Downstream.Driver == config.DriverMySQL {
		derived, cp, err = readMySQLDerived(ctx, cfg, name, keys, out)
	} else {
		if cfg.Downstream.Driver == config.DriverSQLite {
			vals = sqliteForm
		}
		derived, cp, err = readStoreDerived(ctx, cfg, name, keys, vals, out)
	}
	if err != nil {
		return err
	}

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
	replay := &memApplier{chain: chains[0], store: derived, qualify: tableName}
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
	expected := newMemStore(keys, vals)
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
		differences += compareTables(out, table, expected.tables[table], derived.tables[table], vals)
	}
	if differences > 0 {
		fmt.Fprintf(out, "flow %s: %d difference(s)\n", name, differences)
		return errDifferences
	}
	fmt.Fprintf(out, "flow %s: derived tables match the recomputation at %s\n", name, view.Pos)
	return nil
}

// readMySQLDerived reads a flow's checkpoint and derived tables from a
// MySQL or MariaDB downstream in one consistent read, through the snapshot
// reader.
func readMySQLDerived(ctx context.Context, cfg *config.Config, flowName string, keys map[string][]string, out io.Writer) (*memStore, schema.Position, error) {
	var cp schema.Position
	down, err := snapshot.Open(ctx, downstreamReaderOptions(cfg))
	if err != nil {
		return nil, cp, err
	}
	defer down.Close()
	dview, err := down.BeginRead(ctx)
	if err != nil {
		return nil, cp, err
	}
	defer dview.Close()
	err = dview.QueryRow(ctx, "SELECT binlog_file, binlog_pos FROM binflow_checkpoints WHERE flow = ?", flowName).Scan(&cp.File, &cp.Pos)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cp, noCheckpoint(flowName)
	}
	if err != nil {
		return nil, cp, fmt.Errorf("read the checkpoint of flow %s: %w", flowName, err)
	}
	derived := newMemStore(keys, valueForm{})
	for _, table := range slices.Sorted(maps.Keys(keys)) {
		n, err := derived.load(ctx, down, dview, table, keys[table])
		if err != nil {
			return nil, cp, err
		}
		fmt.Fprintf(out, "derived %s: %d rows at checkpoint %s\n", table, n, cp)
	}
	return derived, cp, nil
}

// tableReader reads a flow's checkpoint and tables in one consistent read
// of the store: connectors/postgres and connectors/sqlite provide it.
type tableReader interface {
	ReadTables(ctx context.Context, flow string, tables []string, fn func(table string, columns []string, row []any) error) (connectors.Checkpoint, bool, error)
}

// readStoreDerived reads a flow's checkpoint and derived tables from a
// PostgreSQL or SQLite downstream in one consistent read.
func readStoreDerived(ctx context.Context, cfg *config.Config, flowName string, keys map[string][]string, vals valueForm, out io.Writer) (*memStore, schema.Position, error) {
	store, _, err := dialStore(ctx, cfg)
	if err != nil {
		return nil, schema.Position{}, err
	}
	defer store.Close()
	r, ok := store.(tableReader)
	if !ok {
		return nil, schema.Position{}, fmt.Errorf("verify cannot read derived tables from the %s downstream", cfg.Downstream.Driver)
	}
	derived := newMemStore(keys, vals)
	tables := slices.Sorted(maps.Keys(keys))
	counts := map[string]int{}
	keyIdx := map[string][]int{}
	cp, ok, err := r.ReadTables(ctx, flowName, tables, func(table string, columns []string, row []any) error {
		idx, known := keyIdx[table]
		if !known {
			idx = indexesOf(columns, keys[table])
			for i, j := range idx {
				if j < 0 {
					return fmt.Errorf("derived table %s has no column %q (its key)", table, keys[table][i])
				}
			}
			keyIdx[table] = idx
		}
		mt := derived.table(table)
		values := make(map[string]any, len(columns))
		for i, c := range columns {
			values[c] = row[i]
		}
		mt.rows[mt.vals.key(pick(row, idx))] = values
		counts[table]++
		return nil
	})
	if err != nil {
		return nil, cp.Pos, err
	}
	if !ok {
		return nil, cp.Pos, noCheckpoint(flowName)
	}
	for _, table := range tables {
		fmt.Fprintf(out, "derived %s: %d rows at checkpoint %s\n", table, counts[table], cp.Pos)
	}
	return derived, cp.Pos, nil
}

func noCheckpoint(flowName string) error {
	return fmt.Errorf("flow %s has no checkpoint yet (not started, or its snapshot is not done): nothing to verify", flowName)
}

// memStore holds tables in memory, keyed by their key columns: the result
// of applying batches as the downstream would.
type memStore struct {
	keys   map[string][]string // table -> key columns
	tables map[string]*memTable
	vals   valueForm
}

type memTable struct {
	key  []string
	rows map[string]map[string]any // canonical key -> column -> value
	vals valueForm
}

func newMemStore(keys map[string][]string, vals valueForm) *memStore {
	return &memStore{keys: keys, tables: map[string]*memTable{}, vals: vals}
}

func (m *memStore) table(name string) *memTable {
	t, ok := m.tables[name]
	if !ok {
		t = &memTable{key: m.keys[name], rows: map[string]map[string]any{}, vals: m.vals}
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
			if vals, ok := t.rows[t.vals.key(k)]; ok {
				out = append(out, vals)
			}
		}
		return out
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[t.vals.key(k)] = true
	}
	for _, vals := range t.rows {
		if want[t.vals.key(valuesOf(vals, cols))] {
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
		want[t.vals.key(k)] = true
	}
	out := map[string][]map[string]any{}
	for _, vals := range t.rows {
		if k := t.vals.key(valuesOf(vals, cols)); want[k] {
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
			mt.rows[mt.vals.key(k)] = vals
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
			delete(t.rows, t.vals.key(k))
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
			t.rows[t.vals.key(pick(row, idx))] = vals
		}
	}
	if len(b.Inserts) > 0 {
		return errors.New("verify does not support append-mode sinks (their rows have no key to compare by)")
	}
	for _, d := range b.Deltas {
		t := m.table(qualify(d.Table))
		nk := len(d.Key)
		for _, row := range d.Rows {
			k := t.vals.key(row[:nk])
			vals, ok := t.rows[k]
			if !ok {
				vals = make(map[string]any, nk+len(d.Columns))
				for i, c := range d.Key {
					vals[c] = row[i]
				}
				t.rows[k] = vals
			}
			for i, c := range d.Columns {
				vals[c] = t.vals.add(vals[c], row[nk+i])
			}
			if d.DeleteWhenZero != "" && t.vals.isZero(vals[d.DeleteWhenZero]) {
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
		num, den := m.vals.decimal(row[set.Num]), m.vals.decimal(row[set.Den])
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
		for _, s := range groups[m.vals.key(valuesOf(row, rc.Key))] {
			n++
			v := s[set.Of]
			if v == nil {
				continue
			}
			if best == nil {
				best = v
				continue
			}
			c, err := m.vals.compare(v, best)
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

// compareTables prints the rows of one table that differ and returns how
// many do.
func compareTables(out io.Writer, table string, want, got *memTable, vals valueForm) int {
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
			if !vals.same(w[c], g[c]) {
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
		if e := x.Exponent(); e < 0 {
			return x.StringFixed(-e) // with its scale: 3646.60, as stored
		}
		return x.String()
	}
	return fmt.Sprint(v)
}
