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
		var got int
		_ = e.down.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.binflow_checkpoints", e.derived)).Scan(&got)
		return got >= n
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

// The stateful aggregates (avg, min, max, count_distinct, count of a
// column) and an hourly time bucket stay equal to GROUP BY on the upstream
// through inserts, updates moving orders between customers and hours,
// deletes and a kill -9; the state tables hold exactly the live
// (group, value) pairs.
func TestStatefulAggregatesMatchSQL(t *testing.T) {
	e := newEnv(t, envOptions{maxRows: 200, extraFlow: `
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
`})
	d := "`" + e.derived + "`."
	e.exec(e.down, "CREATE TABLE "+d+`customer_stats (customer_id BIGINT PRIMARY KEY, n BIGINT NOT NULL, n_amount BIGINT NOT NULL,
		total DECIMAL(30,2) NOT NULL, avg_amount DECIMAL(30,6) NULL, lo DECIMAL(12,2) NULL, hi DECIMAL(12,2) NULL,
		statuses BIGINT NOT NULL DEFAULT 0, last_at DATETIME(6) NULL)`)
	e.exec(e.down, "CREATE TABLE "+d+"customer_stats__amount (customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, amount))")
	e.exec(e.down, "CREATE TABLE "+d+"customer_stats__status (customer_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, status))")
	e.exec(e.down, "CREATE TABLE "+d+"customer_stats__created_at (customer_id BIGINT NOT NULL, created_at DATETIME(6) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, created_at))")
	e.exec(e.down, "CREATE TABLE "+d+"hourly (hour DATETIME NOT NULL PRIMARY KEY, orders BIGINT NOT NULL, revenue DECIMAL(30,2) NOT NULL, biggest DECIMAL(12,2) NULL)")
	e.exec(e.down, "CREATE TABLE "+d+"hourly__amount (hour DATETIME NOT NULL, amount DECIMAL(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (hour, amount))")
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

	s := "`" + e.shop + "`.orders"
	checks := []struct{ name, derived, oracle string }{
		{"customer_stats",
			"SELECT customer_id, n, n_amount, total, avg_amount, lo, hi, statuses, last_at FROM " + d + "customer_stats",
			"SELECT customer_id, COUNT(*), COUNT(amount), CAST(SUM(amount) AS DECIMAL(30,2)), CAST(AVG(amount) AS DECIMAL(30,6)), MIN(amount), MAX(amount), COUNT(DISTINCT status), MAX(created_at) FROM " + s + " GROUP BY customer_id"},
		{"customer_stats__amount",
			"SELECT customer_id, amount, n FROM " + d + "customer_stats__amount",
			"SELECT customer_id, amount, COUNT(*) FROM " + s + " GROUP BY customer_id, amount"},
		{"customer_stats__status",
			"SELECT customer_id, status, n FROM " + d + "customer_stats__status",
			"SELECT customer_id, status, COUNT(*) FROM " + s + " GROUP BY customer_id, status"},
		{"hourly",
			"SELECT DATE_FORMAT(hour, '%Y-%m-%d %H:%i:%s'), orders, revenue, biggest FROM " + d + "hourly",
			"SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:00:00'), COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)), MAX(amount) FROM " + s + " WHERE status <> 'cancelled' GROUP BY 1"},
	}
	for _, c := range checks {
		got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
		if diff := diffRows(got, want); diff != "" {
			t.Errorf("%s differs from its SQL recomputation (%d rows, %d expected):\n%s", c.name, len(got), len(want), diff)
		}
		if len(want) < 5 {
			t.Errorf("%s: only %d rows expected; the workload proves little", c.name, len(want))
		}
	}
	e.verify()
	// binflow verify recomputes min, max and count_distinct over the state
	// tables as the connector does.
	for _, f := range []string{"customer_stats", "hourly"} {
		if out, code := e.runCommand("verify", f); code != 0 || !strings.Contains(out, "match the recomputation") {
			t.Errorf("binflow verify %s: exit %d\n%s", f, code, out)
		}
	}
	e.stop(p)
}
