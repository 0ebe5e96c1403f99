package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// itemsDDL is an upstream table with list columns for expand.
const itemsDDL = `CREATE TABLE %s.items (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  order_id BIGINT NOT NULL,
  price DECIMAL(10,3) NOT NULL,
  qty INT NOT NULL,
  tags SET('red','green','blue','xl') NULL,
  attrs JSON NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

var (
	itemTags  = []string{"red", "green", "blue", "xl"}
	itemAttrs = []string{"soft", "eco", "new", "sale", "rare"}
)

// randomTags is a random SET value (maybe NULL or empty).
func (e *env) randomTags() any {
	switch e.rng.Intn(8) {
	case 0:
		return nil
	case 1:
		return ""
	}
	var tags []string
	for _, t := range itemTags {
		if e.rng.Intn(2) == 0 {
			tags = append(tags, t)
		}
	}
	return strings.Join(tags, ",")
}

// randomAttrs is a random JSON array of strings (maybe NULL, maybe with
// repeated elements).
func (e *env) randomAttrs() any {
	if e.rng.Intn(6) == 0 {
		return nil
	}
	n := e.rng.Intn(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q", itemAttrs[e.rng.Intn(len(itemAttrs))])
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// itemTxns writes random transactions on items and returns how many row
// changes the upstream logged (rows an UPDATE matched without changing them
// are not logged).
func (e *env) itemTxns(txns int) int64 {
	e.t.Helper()
	var changes int64
	items := "`" + e.shop + "`.items"
	for i := 0; i < txns; i++ {
		tx, err := e.up.BeginTx(context.Background(), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		for j := 0; j < 8; j++ {
			var q string
			var args []any
			price := fmt.Sprintf("%d.%03d", e.rng.Intn(300), e.rng.Intn(1000))
			switch r := e.rng.Intn(10); {
			case r < 5:
				q = "INSERT INTO " + items + " (order_id, price, qty, tags, attrs) VALUES (?, ?, ?, ?, ?)"
				args = []any{e.rng.Intn(20), price, e.rng.Intn(10), e.randomTags(), e.randomAttrs()}
			case r < 8:
				q = "UPDATE " + items + " SET price = ?, qty = ?, tags = ?, attrs = ? WHERE id = ?"
				args = []any{price, e.rng.Intn(10), e.randomTags(), e.randomAttrs(), e.rng.Intn(40*(i+1)/8+10) + 1}
			default:
				q = "DELETE FROM " + items + " WHERE id = ?"
				args = []any{e.rng.Intn(40*(i+1)/8+10) + 1}
			}
			res, err := tx.Exec(q, args...)
			if err != nil {
				e.t.Fatalf("%s: %v", q, err)
			}
			n, _ := res.RowsAffected()
			changes += n
		}
		if err := tx.Commit(); err != nil {
			e.t.Fatal(err)
		}
	}
	return changes
}

// chainFlows are the flows of TestMapExpandAndSinkModesMatchSQL.
const chainFlows = `
[[flows]]
name = "items_priced"
tables = ["SHOP.items"]
  [[flows.functions]]
  kind = "map"
  set = { total = "price * qty * 1.2", size = "qty > 5 ? 'bulk' : 'single'", unit = "qty == 0 ? nil : price / qty" }
  cast = { total = "decimal(14,2)" }
  rename = { qty = "quantity" }
  drop = ["tags", "attrs"]
  [[flows.functions]]
  kind = "sink"
  table = "items_priced"
  key = ["id"]
  [[flows.functions]]
  kind = "sink"
  table = "items_history"
  mode = "append"

[[flows]]
name = "item_tags"
tables = ["SHOP.items"]
  [[flows.functions]]
  kind = "expand"
  of = "tags"
  as = "tag"
  [[flows.functions]]
  kind = "project"
  columns = ["id", "tag", "order_id"]
  [[flows.functions]]
  kind = "sink"
  table = "item_tags"
  key = ["id", "tag"]

[[flows]]
name = "item_attrs"
tables = ["SHOP.items"]
  [[flows.functions]]
  kind = "expand"
  of = "attrs"
  as = "attr"
  format = "json"
  position = "pos"
  [[flows.functions]]
  kind = "project"
  columns = ["id", "pos", "attr"]
  [[flows.functions]]
  kind = "sink"
  table = "item_attrs"
  key = ["id", "pos"]

[[flows]]
name = "tag_counts"
tables = ["SHOP.items"]
  [[flows.functions]]
  kind = "expand"
  of = "tags"
  as = "tag"
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["tag"]
  aggregates = [{ column = "items", func = "count" }, { column = "units", func = "sum", of = "qty" }]
  [[flows.functions]]
  kind = "sink"
  table = "tag_counts"
`

// A config-only chain map → sink (upsert) → sink (append history), expands
// of a SET and a JSON array, and expand → aggregate, through random
// inserts, updates and deletes and a kill -9, in every store: each derived
// table equals the same computation in SQL, and the history holds exactly
// one row per upstream row change, the last of each id matching the row.
func TestMapExpandAndSinkModesMatchSQL(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 100, extraFlow: chainFlows})
		e.exec(e.up, fmt.Sprintf(itemsDDL, "`"+e.shop+"`"))
		e.createTables(
			storeDDL{
				mysql:    "CREATE TABLE D.items_priced (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, price DECIMAL(10,3) NOT NULL, quantity INT NOT NULL, size VARCHAR(8) NOT NULL, total DECIMAL(14,2) NOT NULL, unit DECIMAL(20,7) NULL)",
				postgres: "CREATE TABLE items_priced (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL, price NUMERIC(10,3) NOT NULL, quantity INT NOT NULL, size VARCHAR(8) NOT NULL, total NUMERIC(14,2) NOT NULL, unit NUMERIC(20,7) NULL)",
				sqlite:   "CREATE TABLE items_priced (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, price TEXT NOT NULL, quantity INTEGER NOT NULL, size TEXT NOT NULL CHECK (length(size) <= 8), total TEXT NOT NULL, unit TEXT NULL) STRICT",
			},
			storeDDL{
				mysql: `CREATE TABLE D.items_history (id BIGINT NOT NULL, order_id BIGINT NOT NULL, price DECIMAL(10,3) NOT NULL, quantity INT NOT NULL,
					size VARCHAR(8) NOT NULL, total DECIMAL(14,2) NOT NULL, unit DECIMAL(20,7) NULL,
					op VARCHAR(6) NOT NULL, binlog_file VARCHAR(255) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, binlog_row INT NOT NULL, commit_time DATETIME(6) NULL,
					PRIMARY KEY (binlog_file, binlog_pos, binlog_row))`,
				postgres: `CREATE TABLE items_history (id BIGINT NOT NULL, order_id BIGINT NOT NULL, price NUMERIC(10,3) NOT NULL, quantity INT NOT NULL,
					size VARCHAR(8) NOT NULL, total NUMERIC(14,2) NOT NULL, unit NUMERIC(20,7) NULL,
					op VARCHAR(6) NOT NULL, binlog_file VARCHAR(255) NOT NULL, binlog_pos NUMERIC(20,0) NOT NULL, binlog_row INT NOT NULL, commit_time TIMESTAMP(6) NULL,
					PRIMARY KEY (binlog_file, binlog_pos, binlog_row))`,
				// binlog_pos INTEGER, not TEXT: positions fit in 63 bits, and
				// the latest-row query below compares them as numbers.
				sqlite: `CREATE TABLE items_history (id INTEGER NOT NULL, order_id INTEGER NOT NULL, price TEXT NOT NULL, quantity INTEGER NOT NULL,
					size TEXT NOT NULL, total TEXT NOT NULL, unit TEXT NULL,
					op TEXT NOT NULL, binlog_file TEXT NOT NULL, binlog_pos INTEGER NOT NULL, binlog_row INTEGER NOT NULL, commit_time TEXT NULL,
					PRIMARY KEY (binlog_file, binlog_pos, binlog_row)) STRICT`,
			},
			storeDDL{
				mysql:    "CREATE TABLE D.item_tags (id BIGINT NOT NULL, tag VARCHAR(8) NOT NULL, order_id BIGINT NOT NULL, PRIMARY KEY (id, tag))",
				postgres: "CREATE TABLE item_tags (id BIGINT NOT NULL, tag VARCHAR(8) NOT NULL, order_id BIGINT NOT NULL, PRIMARY KEY (id, tag))",
				sqlite:   "CREATE TABLE item_tags (id INTEGER NOT NULL, tag TEXT NOT NULL, order_id INTEGER NOT NULL, PRIMARY KEY (id, tag)) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.item_attrs (id BIGINT NOT NULL, pos INT NOT NULL, attr VARCHAR(20) NULL, PRIMARY KEY (id, pos))",
				postgres: "CREATE TABLE item_attrs (id BIGINT NOT NULL, pos INT NOT NULL, attr VARCHAR(20) NULL, PRIMARY KEY (id, pos))",
				sqlite:   "CREATE TABLE item_attrs (id INTEGER NOT NULL, pos INTEGER NOT NULL, attr TEXT NULL, PRIMARY KEY (id, pos)) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.tag_counts (tag VARCHAR(8) PRIMARY KEY, items BIGINT NOT NULL, units DECIMAL(20,0) NOT NULL)",
				postgres: "CREATE TABLE tag_counts (tag VARCHAR(8) PRIMARY KEY, items BIGINT NOT NULL, units NUMERIC(20,0) NOT NULL)",
				sqlite:   "CREATE TABLE tag_counts (tag TEXT PRIMARY KEY, items INTEGER NOT NULL, units TEXT NOT NULL) STRICT",
			},
		)
		e.streamOnly()

		p := e.start()
		e.waitCheckpoints(flowCount + 4)
		changes := e.itemTxns(60)
		e.kill9(p)
		changes += e.itemTxns(60)
		p = e.start()
		changes += e.itemTxns(20)
		e.caughtUp(60 * time.Second)

		s := "`" + e.shop + "`.items"
		var tagUnion, tagCountUnion []string
		for _, tag := range itemTags {
			tagUnion = append(tagUnion, fmt.Sprintf("SELECT id, '%s', order_id FROM %s WHERE FIND_IN_SET('%[1]s', tags)", tag, s))
			tagCountUnion = append(tagCountUnion, fmt.Sprintf("SELECT '%s', COUNT(*), SUM(qty) FROM %s WHERE FIND_IN_SET('%[1]s', tags) HAVING COUNT(*) > 0", tag, s))
		}
		history := e.tbl("items_history")
		checks := []struct{ name, derived, oracle string }{
			{"items_priced",
				"SELECT id, order_id, price, quantity, size, total, unit FROM " + e.tbl("items_priced"),
				"SELECT id, order_id, price, qty, CASE WHEN qty > 5 THEN 'bulk' ELSE 'single' END, ROUND(price * qty * 1.2, 2), price / NULLIF(qty, 0) FROM " + s},
			{"item_tags", "SELECT id, tag, order_id FROM " + e.tbl("item_tags"), strings.Join(tagUnion, " UNION ALL ")},
			{"item_attrs", "SELECT id, pos, attr FROM " + e.tbl("item_attrs"),
				"SELECT i.id, j.pos, j.attr FROM " + s + " i, JSON_TABLE(i.attrs, '$[*]' COLUMNS (pos FOR ORDINALITY, attr VARCHAR(20) PATH '$')) j"},
			{"tag_counts", "SELECT tag, items, units FROM " + e.tbl("tag_counts"), strings.Join(tagCountUnion, " UNION ALL ")},
			// The last history row of each id (no later change of the id in
			// binlog order; the same SQL in every store) is its current
			// state, or its deletion.
			{"items_history (latest per id)",
				"SELECT h.id, h.op, h.price, h.quantity, h.total FROM " + history + " h WHERE h.op <> 'delete' AND NOT EXISTS (SELECT 1 FROM " + history +
					" l WHERE l.id = h.id AND (l.binlog_file > h.binlog_file OR (l.binlog_file = h.binlog_file AND (l.binlog_pos > h.binlog_pos OR (l.binlog_pos = h.binlog_pos AND l.binlog_row > h.binlog_row)))))",
				"SELECT id, 'X', price, qty, ROUND(price * qty * 1.2, 2) FROM " + s},
		}
		for _, c := range checks {
			got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
			if strings.HasPrefix(c.name, "items_history") {
				for i := range got {
					parts := strings.SplitN(got[i], "|", 3)
					got[i] = parts[0] + "|X|" + parts[2]
				}
				want = sortStrings(want)
				got = sortStrings(got)
			}
			if diff := diffRows(got, want); diff != "" {
				t.Errorf("%s in %s differs from its SQL recomputation (%d rows, %d expected):\n%s", c.name, store, len(got), len(want), diff)
			}
			if len(want) < len(itemTags) {
				t.Errorf("%s: only %d rows expected; the workload proves little", c.name, len(want))
			}
		}
		var rows int64
		if err := e.down.QueryRow("SELECT COUNT(*) FROM " + history).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != changes {
			t.Errorf("items_history in %s has %d rows, the upstream logged %d row changes", store, rows, changes)
		}
		e.stop(p)
	})
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
