package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// waitCheckpoints waits until n flows have their checkpoint row (start
// returns once the harness's own flows have theirs).
func (e *env) waitCheckpoints(n int) {
	e.t.Helper()
	e.waitFor(20*time.Second, fmt.Sprintf("%d checkpoints", n), func() bool {
		cps, _ := e.checkpoints()
		return len(cps) >= n
	})
}

// streamOnly makes the test's flows start at the upstream's current
// position (no snapshot of existing rows: the tests write every row after
// binflow starts), so that they test their functions, not snapshots.
func (e *env) streamOnly() {
	e.t.Helper()
	cfg := readFile(e.t, e.configPath)
	if !strings.Contains(cfg, "\nstart =") {
		cfg = strings.Replace(cfg, "\n[downstream]\n", "\nstart = \"current\"\n\n[downstream]\n", 1)
	}
	writeFile(e.t, e.configPath, replaceShop(cfg, e.shop))
}

// spreadTimes moves random orders to random times over three days, so that
// time buckets get many groups and rows move between them.
func (e *env) spreadTimes(n int) {
	e.t.Helper()
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(e.rng.Intn(72*3600)) * time.Second).Add(time.Duration(e.rng.Intn(1e6)) * time.Microsecond)
		e.exec(e.up, "UPDATE `"+e.shop+"`.orders SET created_at = ? WHERE id = ?", at, e.rng.Int63n(e.nextID+1)+1)
	}
}

// statefulAggregateFlows are the flows of TestStatefulAggregatesMatchSQL.
const statefulAggregateFlows = `
[[flows]]
name = "customer_stats"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["customer_id"]
  aggregates = [
    { column = "n", func = "count" },
    { column = "n_amount", func = "count", of = "amount" },
    { column = "total", func = "sum", of = "amount" },
    { column = "avg_amount", func = "avg", of = "amount" },
    { column = "lo", func = "min", of = "amount" },
    { column = "hi", func = "max", of = "amount" },
    { column = "statuses", func = "count_distinct", of = "status" },
    { column = "last_at", func = "max", of = "created_at" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "customer_stats"

[[flows]]
name = "hourly"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "filter"
  expr = 'status != "cancelled"'
  [[flows.functions]]
  kind = "aggregate"
  bucket = { column = "created_at", every = "hour", as = "hour" }
  aggregates = [
    { column = "orders", func = "count" },
    { column = "revenue", func = "sum", of = "amount" },
    { column = "biggest", func = "max", of = "amount" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "hourly"
`

// The stateful aggregates (avg, min, max, count_distinct, count of a
// column) and an hourly time bucket stay equal to GROUP BY on the upstream
// through inserts, updates moving orders between customers and hours,
// deletes and a kill -9, in every store; the state tables hold exactly the
// live (group, value) pairs.
func TestStatefulAggregatesMatchSQL(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 200, extraFlow: statefulAggregateFlows})
		e.createTables(
			storeDDL{
				mysql: `CREATE TABLE D.customer_stats (customer_id BIGINT PRIMARY KEY, n BIGINT NOT NULL, n_amount BIGINT NOT NULL,
					total DECIMAL(30,2) NOT NULL, avg_amount DECIMAL(30,6) NULL, lo DECIMAL(12,2) NULL, hi DECIMAL(12,2) NULL,
					statuses BIGINT NOT NULL DEFAULT 0, last_at DATETIME(6) NULL)`,
				postgres: `CREATE TABLE customer_stats (customer_id BIGINT PRIMARY KEY, n BIGINT NOT NULL, n_amount BIGINT NOT NULL,
					total NUMERIC(30,2) NOT NULL, avg_amount NUMERIC(30,6) NULL, lo NUMERIC(12,2) NULL, hi NUMERIC(12,2) NULL,
					statuses BIGINT NOT NULL DEFAULT 0, last_at TIMESTAMP(6) NULL)`,
				sqlite: `CREATE TABLE customer_stats (customer_id INTEGER PRIMARY KEY, n INTEGER NOT NULL, n_amount INTEGER NOT NULL,
					total TEXT NOT NULL, avg_amount TEXT NULL, lo TEXT NULL, hi TEXT NULL,
					statuses INTEGER NOT NULL DEFAULT 0, last_at TEXT NULL) STRICT`,
			},
			storeDDL{
				mysql:    "CREATE TABLE D.customer_stats__amount (customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, amount))",
				postgres: "CREATE TABLE customer_stats__amount (customer_id BIGINT NOT NULL, amount NUMERIC(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, amount))",
				sqlite:   "CREATE TABLE customer_stats__amount (customer_id INTEGER NOT NULL, amount TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (customer_id, amount)) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.customer_stats__status (customer_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, status))",
				postgres: "CREATE TABLE customer_stats__status (customer_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, status))",
				sqlite:   "CREATE TABLE customer_stats__status (customer_id INTEGER NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (customer_id, status)) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.customer_stats__created_at (customer_id BIGINT NOT NULL, created_at DATETIME(6) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, created_at))",
				postgres: "CREATE TABLE customer_stats__created_at (customer_id BIGINT NOT NULL, created_at TIMESTAMP(6) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, created_at))",
				sqlite:   "CREATE TABLE customer_stats__created_at (customer_id INTEGER NOT NULL, created_at TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (customer_id, created_at)) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.hourly (hour DATETIME NOT NULL PRIMARY KEY, orders BIGINT NOT NULL, revenue DECIMAL(30,2) NOT NULL, biggest DECIMAL(12,2) NULL)",
				postgres: "CREATE TABLE hourly (hour TIMESTAMP NOT NULL PRIMARY KEY, orders BIGINT NOT NULL, revenue NUMERIC(30,2) NOT NULL, biggest NUMERIC(12,2) NULL)",
				sqlite:   "CREATE TABLE hourly (hour TEXT NOT NULL PRIMARY KEY, orders INTEGER NOT NULL, revenue TEXT NOT NULL, biggest TEXT NULL) STRICT",
			},
			storeDDL{
				mysql:    "CREATE TABLE D.hourly__amount (hour DATETIME NOT NULL, amount DECIMAL(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (hour, amount))",
				postgres: "CREATE TABLE hourly__amount (hour TIMESTAMP NOT NULL, amount NUMERIC(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (hour, amount))",
				sqlite:   "CREATE TABLE hourly__amount (hour TEXT NOT NULL, amount TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (hour, amount)) STRICT",
			},
		)
		e.streamOnly()

		p := e.start()
		e.waitCheckpoints(flowCount + 2)
		e.load(60, 10, 12)
		e.spreadTimes(60)
		e.kill9(p)
		e.load(60, 10, 12)
		e.spreadTimes(60)
		p = e.start()
		e.load(30, 10, 12)
		e.caughtUp(60 * time.Second)

		// The hour as 'YYYY-MM-DD HH:MM:SS' in the store's SQL.
		hour := map[string]string{
			storeMySQL:    "DATE_FORMAT(hour, '%Y-%m-%d %H:%i:%s')",
			storePostgres: "to_char(hour, 'YYYY-MM-DD HH24:MI:SS')",
			storeSQLite:   "substr(hour, 1, 19)",
		}[store]
		s := "`" + e.shop + "`.orders"
		checks := []struct{ name, derived, oracle string }{
			{"customer_stats",
				"SELECT customer_id, n, n_amount, total, avg_amount, lo, hi, statuses, " + e.timeText("last_at") + " FROM " + e.tbl("customer_stats"),
				"SELECT customer_id, COUNT(*), COUNT(amount), CAST(SUM(amount) AS DECIMAL(30,2)), CAST(AVG(amount) AS DECIMAL(30,6)), MIN(amount), MAX(amount), COUNT(DISTINCT status), DATE_FORMAT(MAX(created_at), '" + timeFormat + "') FROM " + s + " GROUP BY customer_id"},
			{"customer_stats__amount",
				"SELECT customer_id, amount, n FROM " + e.tbl("customer_stats__amount"),
				"SELECT customer_id, amount, COUNT(*) FROM " + s + " GROUP BY customer_id, amount"},
			{"customer_stats__status",
				"SELECT customer_id, status, n FROM " + e.tbl("customer_stats__status"),
				"SELECT customer_id, status, COUNT(*) FROM " + s + " GROUP BY customer_id, status"},
			{"hourly",
				"SELECT " + hour + ", orders, revenue, biggest FROM " + e.tbl("hourly"),
				"SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:00:00'), COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)), MAX(amount) FROM " + s + " WHERE status <> 'cancelled' GROUP BY 1"},
		}
		for _, c := range checks {
			got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
			if diff := diffRows(got, want); diff != "" {
				t.Errorf("%s in %s differs from its SQL recomputation (%d rows, %d expected):\n%s", c.name, store, len(got), len(want), diff)
			}
			if len(want) < 5 {
				t.Errorf("%s: only %d rows expected; the workload proves little", c.name, len(want))
			}
		}
		e.verify()
		// binflow verify (MySQL and MariaDB downstreams) recomputes min,
		// max and count_distinct over the state tables as the connector does.
		if store == storeMySQL {
			for _, f := range []string{"customer_stats", "hourly"} {
				if out, code := e.runCommand("verify", f); code != 0 || !strings.Contains(out, "match the recomputation") {
					t.Errorf("binflow verify %s: exit %d\n%s", f, code, out)
				}
			}
		}
		e.stop(p)
	})
}
