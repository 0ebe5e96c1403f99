package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eventsFlows are flows on an events table whose schema the tests change.
const eventsFlows = `
[[flows]]
name = "events_copy"
tables = ["SHOP.events"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "a", "b"]
  [[flows.functions]]
  kind = "sink"
  table = "events_copy"
  key = ["id"]
`

func eventsEnv(t *testing.T, extraFlows string) *env {
	e := newEnv(t, envOptions{extraFlow: eventsFlows + extraFlows})
	writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))
	e.exec(e.up, "CREATE TABLE `"+e.shop+"`.events (id INT PRIMARY KEY, a VARCHAR(20) NOT NULL, b INT NOT NULL, c VARCHAR(20) NULL) DEFAULT CHARSET=utf8mb4")
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.events_copy (id INT PRIMARY KEY, a VARCHAR(20) NOT NULL, b BIGINT NOT NULL)")
	return e
}

// Rows written before and after ALTER TABLE (a column added in the middle,
// one dropped, one widened), replayed from a binlog position before them
// all: every row is read with the columns it was written with.
func TestReplayAcrossAlterTableReadsEachRowWithItsSchema(t *testing.T) {
	e := eventsEnv(t, `
[[flows]]
name = "events_all"
tables = ["SHOP.events"]
  [[flows.functions]]
  kind = "sink"
  table = "events_all"
  key = ["id"]
`)
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.events_all (id INT PRIMARY KEY, a VARCHAR(20), m INT NULL, b BIGINT, c VARCHAR(20) NULL)")
	file, pos := e.upstreamPos()
	ev := "`" + e.shop + "`.events"
	for _, q := range []string{
		"INSERT INTO " + ev + " VALUES (1, 'one', 10, 'c1'), (2, 'two', 20, 'c2'), (3, 'three', 30, 'c3')",
		"UPDATE " + ev + " SET b = 11 WHERE id = 1",
		"ALTER TABLE " + ev + " ADD COLUMN m INT NOT NULL DEFAULT 7 AFTER a, DROP COLUMN c",
		"INSERT INTO " + ev + " (id, a, m, b) VALUES (4, 'four', 44, 40), (5, 'five', 5, 50)",
		"UPDATE " + ev + " SET a = 'ONE', m = 1 WHERE id = 1",
		"DELETE FROM " + ev + " WHERE id = 2",
		"ALTER TABLE " + ev + " MODIFY b BIGINT NOT NULL",
		"INSERT INTO " + ev + " (id, a, m, b) VALUES (6, 'six', 6, 9000000000)",
	} {
		e.exec(e.up, q)
	}
	// Start at the position before the first insert.
	writeFile(t, e.configPath, strings.Replace(readFile(t, e.configPath), "[upstream]\n", fmt.Sprintf("[upstream]\nstart = \"%s:%d\"\n", file, pos), 1))
	p := e.start()
	e.waitCheckpoints(flowCount + 2)
	e.caughtUpFlows(60*time.Second, "orders_copy", "customer_totals", "big_orders", "customers_by_country", "events_copy", "events_all")
	e.verify()

	if diff := diffRows(e.snapshot(e.down, "SELECT id, a, b FROM `"+e.derived+"`.events_copy"),
		e.snapshot(e.up, "SELECT id, a, b FROM "+ev)); diff != "" {
		t.Errorf("events_copy differs from the upstream:\n%s", diff)
	}
	// The flow keeping every column writes each row with the columns of its
	// own event: c before the ALTER, m after. (Row 3's m is the ALTER's
	// default upstream: an ALTER rewrites rows without row events. Row 1's
	// c is left out: it depends on whether its insert and its update after
	// the ALTER fell in one batch, where the sink writes the last only.)
	want := []string{"1|ONE|1|11|-", "3|three|NULL|30|c3", "4|four|44|40|NULL", "5|five|5|50|NULL", "6|six|6|9000000000|NULL"}
	if diff := diffRows(e.snapshot(e.down, "SELECT id, a, m, b, IF(id = 1, '-', c) FROM `"+e.derived+"`.events_all"), want); diff != "" {
		t.Errorf("events_all:\n%s", diff)
	}
	e.stop(p)
}

// Without binlog_row_metadata=FULL (the binlog written under MINIMAL),
// rows written before and after an ALTER TABLE that adds a column in the
// middle, drops one and renames one, replayed from before the table was
// created: binflow follows the DDL, and the copy matches the upstream.
func TestReplayWithoutFullMetadataFollowsDDL(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: `
[[flows]]
name = "events_all"
tables = ["SHOP.events"]
  [[flows.functions]]
  kind = "sink"
  table = "events_all"
  key = ["id"]
`})
	writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.events_all (id INT PRIMARY KEY, a VARCHAR(20), m INT NULL, b BIGINT NULL, bb BIGINT NULL, c VARCHAR(20) NULL)")
	e.exec(e.up, "SET GLOBAL binlog_row_metadata = MINIMAL")
	restored := false
	restore := func() {
		if !restored {
			e.exec(e.up, "SET GLOBAL binlog_row_metadata = FULL")
			restored = true
		}
	}
	t.Cleanup(restore)
	file, pos := e.upstreamPos()
	ev := "`" + e.shop + "`.events"
	for _, q := range []string{
		"CREATE TABLE " + ev + " (id INT PRIMARY KEY, a VARCHAR(20) NOT NULL, b INT NOT NULL, c VARCHAR(20) NULL) DEFAULT CHARSET=utf8mb4",
		"INSERT INTO " + ev + " VALUES (1, 'one', 10, 'c1'), (2, 'two', 20, 'c2'), (3, 'three', 30, 'c3')",
		"UPDATE " + ev + " SET b = 11 WHERE id = 1",
		"ALTER TABLE " + ev + " ADD COLUMN m INT NOT NULL DEFAULT 7 AFTER a, DROP COLUMN c, RENAME COLUMN b TO bb",
		"INSERT INTO " + ev + " (id, a, m, bb) VALUES (4, 'four', 44, 40), (5, 'five', 5, 50)",
		"UPDATE " + ev + " SET a = 'TWO', m = 2 WHERE id = 2",
		"DELETE FROM " + ev + " WHERE id = 3",
	} {
		e.exec(e.up, q)
	}
	restore() // what matters is how the binlog was written
	writeFile(t, e.configPath, strings.Replace(readFile(t, e.configPath), "[upstream]\n", fmt.Sprintf("[upstream]\nstart = \"%s:%d\"\n", file, pos), 1))
	p := e.start()
	e.waitCheckpoints(flowCount + 1)
	e.caughtUp(60 * time.Second)

	// Every row as the upstream has it, b under its new name...
	if diff := diffRows(e.snapshot(e.down, "SELECT id, a, COALESCE(bb, b) FROM `"+e.derived+"`.events_all"),
		e.snapshot(e.up, "SELECT id, a, bb FROM "+ev)); diff != "" {
		t.Errorf("events_all differs from the upstream:\n%s", diff)
	}
	// ...and each written with the columns of its own event: c and b
	// before the ALTER, m and bb after.
	want := []string{"1|one|NULL|11|NULL|c1", "2|TWO|2|NULL|20|NULL", "4|four|44|NULL|40|NULL", "5|five|5|NULL|50|NULL"}
	if diff := diffRows(e.snapshot(e.down, "SELECT id, a, m, b, bb, c FROM `"+e.derived+"`.events_all"), want); diff != "" {
		t.Errorf("events_all:\n%s", diff)
	}
	e.stop(p)
}

// Mid-stream, a column dropped under one flow stops that flow, naming flow,
// table and column; a TRUNCATE stops the flow of the truncated table,
// naming the statement and its binlog position and how to recover; the
// flows of the other tables and columns go on.
func TestSchemaChangesStopOnlyTheFlowsTheyBreak(t *testing.T) {
	e := eventsEnv(t, `
[[flows]]
name = "events_c"
tables = ["SHOP.events"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "c"]
  [[flows.functions]]
  kind = "sink"
  table = "events_c"
  key = ["id"]
`)
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.events_c (id INT PRIMARY KEY, c VARCHAR(20) NULL)")
	ev := "`" + e.shop + "`.events"
	port := freePort(t)
	writeFile(t, e.configPath, readFile(t, e.configPath)+fmt.Sprintf("\n[http]\nlisten = \"127.0.0.1:%d\"\n", port))
	p := e.start()
	e.waitCheckpoints(flowCount + 2)
	e.exec(e.up, "INSERT INTO "+ev+" VALUES (1, 'one', 10, 'c1'), (2, 'two', 20, 'c2')")
	e.load(5, 5, 5)
	e.caughtUp(60 * time.Second)

	e.exec(e.up, "ALTER TABLE "+ev+" ADD COLUMN m INT NULL AFTER a, DROP COLUMN c")
	e.exec(e.up, "INSERT INTO "+ev+" (id, a, m, b) VALUES (3, 'three', 3, 30)")
	beforeFile, beforePos := e.upstreamPos()
	e.exec(e.up, "TRUNCATE TABLE `"+e.shop+"`.customers")
	file, pos := e.upstreamPos()
	e.load(10, 5, 5)
	e.exec(e.up, "UPDATE "+ev+" SET b = 12 WHERE id = 1")

	running := []string{"orders_copy", "customer_totals", "big_orders", "events_copy"}
	e.caughtUpFlows(60*time.Second, running...)
	e.verifyFlows("orders_copy", "customer_totals", "big_orders")
	if diff := diffRows(e.snapshot(e.down, "SELECT id, a, b FROM `"+e.derived+"`.events_copy"),
		e.snapshot(e.up, "SELECT id, a, b FROM "+ev)); diff != "" {
		t.Errorf("events_copy differs from the upstream:\n%s", diff)
	}
	errs := flowErrors(p.out.String())
	for flow, wants := range map[string][]string{
		"events_c": {"flow events_c", "table " + e.shop + ".events", `column "c"`},
		"customers_by_country": {"flow customers_by_country", "table " + e.shop + ".customers", "TRUNCATE TABLE",
			fmt.Sprintf("at binlog %s:%d", file, pos), "binflow rebuild customers_by_country"},
	} {
		msg, ok := errs[flow]
		if !ok {
			t.Errorf("flow %s did not stop; errors: %v", flow, errs)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("flow %s stopped with %q, which does not say %q", flow, msg, w)
			}
		}
	}
	// The stopped flow committed everything before the statement, nothing
	// after it.
	var cf string
	var cp uint64
	if err := e.down.QueryRow("SELECT binlog_file, binlog_pos FROM `"+e.derived+"`.binflow_checkpoints WHERE flow = 'customers_by_country'").Scan(&cf, &cp); err != nil {
		t.Fatal(err)
	}
	if at, before, after := fmt.Sprintf("%s:%020d", cf, cp), fmt.Sprintf("%s:%020d", beforeFile, beforePos), fmt.Sprintf("%s:%020d", file, pos); at < before || at >= after {
		t.Errorf("customers_by_country's checkpoint is %s:%d, want just before the TRUNCATE (%s:%d)", cf, cp, beforeFile, beforePos)
	}
	for _, f := range running {
		if msg, ok := errs[f]; ok {
			t.Errorf("flow %s stopped: %s", f, msg)
		}
	}
	// Both stops count as schema errors, not function or internal ones.
	metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	for _, f := range []string{"events_c", "customers_by_country"} {
		for kind, want := range map[string]float64{"schema": 1, "function": 0, "internal": 0} {
			series := fmt.Sprintf(`binflow_flow_errors_total{flow=%q,kind=%q}`, f, kind)
			if got := metricValue(t, metrics, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
	}
	// binflow ran on with the other flows; on SIGTERM it exits 1, with the
	// errors of the flows that stopped.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("binflow did not stop within 20s of SIGTERM")
	}
}

// flowErrors returns, per flow, the error it stopped with, from binflow's
// JSON log.
func flowErrors(log string) map[string]string {
	errs := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		var l struct{ Flow, Error, Message string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "flow stopped" && l.Flow != "" {
			errs[l.Flow] = l.Error
		}
	}
	return errs
}

// httpGet returns the body of a GET that must succeed.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}
