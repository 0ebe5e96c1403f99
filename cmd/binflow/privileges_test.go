package main

// The upstream user of README "Upstream privileges", and nothing more:
// binflow check, run (snapshot, streaming, schema history, status polling)
// and verify work with exactly those grants, and check names each one
// that is missing.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/status"
	"github.com/binflow/binflow/testenv"
)

// leastUser is the upstream account of TestLeastPrivileges.
const leastUser = "binflow_least"

// leastGrants are README's grants for MariaDB 10.5+, ON what, in order.
var leastGrants = []struct {
	privilege, on string
	errors        int // what check reports without it: one per source table for SELECT
}{
	{"REPLICATION SLAVE", "*.*", 1},
	{"BINLOG MONITOR", "*.*", 1},
	{"SELECT", "SHOP.*", 3}, // the flows' database: orders, customers, hosts
}

// createLeastUser creates leastUser on the upstream (127.0.0.1 and
// localhost, as testenv does) with the README grants, dropped when the test
// ends, and points the test's config at it. grant and revoke change one of
// leastGrants on both accounts.
func (e *env) createLeastUser() (grant, revoke func(privilege, on string)) {
	e.t.Helper()
	accounts := []string{"'" + leastUser + "'@'127.0.0.1'", "'" + leastUser + "'@'localhost'"}
	e.t.Cleanup(func() {
		for _, a := range accounts {
			if _, err := e.up.Exec("DROP USER IF EXISTS " + a); err != nil {
				e.t.Errorf("drop user %s: %v", a, err)
			}
		}
	})
	on := func(on string) string { return strings.ReplaceAll(on, "SHOP.", "`"+e.shop+"`.") }
	grant = func(privilege, what string) {
		for _, a := range accounts {
			e.exec(e.up, fmt.Sprintf("GRANT %s ON %s TO %s", privilege, on(what), a))
		}
	}
	revoke = func(privilege, what string) {
		for _, a := range accounts {
			e.exec(e.up, fmt.Sprintf("REVOKE %s ON %s FROM %s", privilege, on(what), a))
		}
	}
	for _, a := range accounts {
		// The harness passes testenv.Password to every command.
		e.exec(e.up, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", a, testenv.Password))
	}
	for _, g := range leastGrants {
		grant(g.privilege, g.on)
	}
	// [upstream] comes first in the config: its user line is the first.
	cfg := readFile(e.t, e.configPath)
	writeFile(e.t, e.configPath, strings.Replace(cfg, `user = "`+testenv.User+`"`, `user = "`+leastUser+`"`, 1))
	return grant, revoke
}

// The README's least privileges are enough for check, for run (a snapshot of
// existing rows, streaming, the schema history of a BINARY(16)/INET6 table
// altered while binflow was stopped, /status polling the upstream's
// binlogs), for status and for verify; and check names each grant taken
// away, with the GRANT that fixes it.
func TestLeastPrivileges(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: hostsFlow + snapshotConfig})
	hosts := "`" + e.shop + "`.hosts"
	e.exec(e.up, "CREATE TABLE "+hosts+" (id INT PRIMARY KEY, raw BINARY(16) NULL, ip INET6 NULL, note VARCHAR(20) NULL)")
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.hosts_copy (id INT PRIMARY KEY, raw BINARY(16) NULL, ip VARCHAR(39) NULL, note VARCHAR(20) NULL)")
	e.preload(1500, 100)
	e.exec(e.up, "INSERT INTO "+hosts+" VALUES (1, UNHEX('20010DB8000000000000000000000001'), '2001:db8::1', 'one')")
	grant, revoke := e.createLeastUser()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	writeFile(t, e.configPath, readFile(t, e.configPath)+"\n[http]\nlisten = \""+listen+"\"\n")

	out, code := e.runCommand("check")
	if code != 0 || !strings.Contains(out, "ready; 5 flow(s) match its tables") {
		t.Fatalf("binflow check as %s exited %d:\n%s", leastUser, code, out)
	}

	// A snapshot of the rows there, then streaming.
	p := e.startSnapshotting()
	e.waitFor(60*time.Second, "the snapshots to finish", func() bool {
		e.alive(p)
		return e.count("binflow_checkpoints") == 5 && e.count("binflow_snapshots") == 0
	})
	e.load(20, 5, 100)
	e.exec(e.up, "INSERT INTO "+hosts+" VALUES (2, UNHEX('00000000000000000000FFFF0A000001'), '::ffff:10.0.0.1', 'two')")
	e.caughtUp(30 * time.Second)

	// /status, fed by the monitor's polls of the upstream's binlogs.
	e.waitFor(10*time.Second, "/status to show the upstream's binlogs", func() bool {
		r := liveStatus(t, "http://"+listen+"/status")
		return r.Upstream.OldestBinlog != "" && r.Upstream.Position.File != "" && r.Upstream.Error == ""
	})
	if out, code := e.runCommand("status"); code != 0 || !strings.Contains(out, "live from") {
		t.Errorf("binflow status (live) exited %d:\n%s", code, out)
	}
	e.stop(p)

	// While binflow is down, hosts is altered between rows: on restart the
	// schema history reads information_schema, SHOW MASTER STATUS and SHOW
	// BINLOG EVENTS to tell the columns of the rows before the ALTER.
	for _, q := range []string{
		"INSERT INTO " + hosts + " VALUES (3, NULL, NULL, 'three')",
		"UPDATE " + hosts + " SET ip = 'fe80::1:2' WHERE id = 1",
		"ALTER TABLE " + hosts + " ADD INDEX (ip), COMMENT 'hosts'",
		"INSERT INTO " + hosts + " VALUES (4, UNHEX('00000000000000000000000000000000'), '::', 'four')",
	} {
		e.exec(e.up, q)
	}
	e.load(10, 5, 100)
	out, code = e.runCommand("status")
	if code != 0 || !strings.Contains(out, "offline") || strings.Contains(strings.ToLower(out), "denied") {
		t.Errorf("binflow status (offline) exited %d or shows an upstream error:\n%s", code, out)
	}
	p = e.start()
	e.caughtUp(30 * time.Second)
	e.stop(p)
	if log := p.out.String(); strings.Contains(strings.ToLower(log), "denied") {
		t.Errorf("binflow run was denied something:\n%s", tail(log, 4000))
	}
	rows := e.verify()
	want := e.snapshot(e.up, "SELECT id, HEX(raw), CAST(ip AS CHAR), note FROM "+hosts)
	if diff := diffRows(e.snapshot(e.down, "SELECT id, HEX(raw), ip, note FROM `"+e.derived+"`.hosts_copy"), want); diff != "" || len(want) != 4 {
		t.Errorf("hosts_copy differs from the upstream's %d rows:\n%s", len(want), diff)
	}
	for _, f := range []string{"orders_copy", "customer_totals", "big_orders", "customers_by_country", "hosts_copy"} {
		if out, code := e.runCommand("verify", f); code != 0 || !strings.Contains(out, "match the recomputation") {
			t.Errorf("binflow verify %s as %s exited %d:\n%s", f, leastUser, code, tail(out, 3000))
		}
	}
	t.Logf("%d derived rows verified exact as %s", rows, leastUser)

	// Each grant taken away in turn: check fails, naming it and its GRANT.
	grantee := "'" + leastUser + "'@'"
	for _, g := range leastGrants {
		revoke(g.privilege, g.on)
		out, code := e.runCommand("check")
		grant(g.privilege, g.on)
		if code == 0 {
			t.Errorf("without %s, binflow check exited 0:\n%s", g.privilege, out)
			continue
		}
		fix := "GRANT " + g.privilege + " ON " + strings.ReplaceAll(g.on, "SHOP.", "`"+e.shop+"`.") + " TO " + grantee
		for _, want := range []string{"error: privilege " + g.privilege, "not granted to " + grantee, "fix: " + fix} {
			if !strings.Contains(out, want) {
				t.Errorf("without %s, binflow check does not say %q:\n%s", g.privilege, want, out)
			}
		}
		if strings.Contains(out, "does not exist") {
			t.Errorf("without %s, binflow check says a table does not exist:\n%s", g.privilege, out)
		}
		if g.privilege == "SELECT" && !strings.Contains(out, "flow hosts_copy: not checked against the upstream's tables until binflow may read "+e.shop+".hosts (SELECT, above)") {
			t.Errorf("without SELECT, binflow check does not say why it did not check the flows:\n%s", out)
		}
		if n := strings.Count(out, "error: "); n != g.errors {
			t.Errorf("without %s, binflow check reports %d errors, want %d:\n%s", g.privilege, n, g.errors, out)
		}
	}
}

// liveStatus reads a running binflow's /status (the zero Report when it
// does not answer).
func liveStatus(t *testing.T, url string) status.Report {
	var r status.Report
	resp, err := http.Get(url)
	if err != nil {
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil {
		t.Logf("GET %s: %v: %s", url, err, body)
	}
	return r
}
