package main

// `binflow status` without the service, in every downstream store: it reads
// the checkpoints from binflow_checkpoints (MySQL, PostgreSQL or SQLite) and
// the upstream's binlogs, and must show each flow's stored checkpoint, its
// commit time, lag and bytes behind, and the retention warnings.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binflow/binflow/status"
)

// storedCheckpointRow is a flow's row of binflow_checkpoints with its
// commit time (UTC; zero when NULL).
type storedCheckpointRow struct {
	storedCheckpoint
	commitTime time.Time
}

// checkpointRows reads every row of binflow_checkpoints, commit time
// included, in the store's own SQL.
func (e *env) checkpointRows() map[string]storedCheckpointRow {
	e.t.Helper()
	var commitText string
	switch e.store {
	case storePostgres:
		commitText = `to_char(commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`
	case storeSQLite:
		commitText = "commit_time" // TEXT in UTC
	default:
		commitText = "DATE_FORMAT(commit_time, '" + timeFormat + "')" // DATETIME(6) in UTC
	}
	rows, err := e.down.Query("SELECT flow, binlog_file, binlog_pos, gtid, server_id, " + commitText + " FROM " + e.tbl("binflow_checkpoints"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]storedCheckpointRow{}
	for rows.Next() {
		var (
			flow   string
			c      storedCheckpointRow
			commit *string
		)
		if err := rows.Scan(&flow, &c.file, &c.pos, &c.gtid, &c.serverID, &commit); err != nil {
			e.t.Fatal(err)
		}
		if commit != nil {
			if c.commitTime, err = time.ParseInLocation("2006-01-02 15:04:05.999999", *commit, time.UTC); err != nil {
				e.t.Fatalf("flow %s: commit_time %q: %v", flow, *commit, err)
			}
		}
		out[flow] = c
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitForBinlogCheckpoint waits until the upstream's newest binlog has its
// own Binlog_checkpoint event. MariaDB writes it after a rotation once the
// older binlog's transactions are durable, which may be a second later, in
// the middle of the test's transactions: the upstream's end would then move
// with no transaction, and the checkpoints would not be at its end.
func (e *env) waitForBinlogCheckpoint() {
	e.t.Helper()
	file, _ := e.upstreamPos()
	e.waitFor(30*time.Second, "the Binlog_checkpoint event of "+file, func() bool {
		rows, err := e.up.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' LIMIT 10", file))
		if err != nil {
			e.t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			// Log_name, Pos, Event_type, Server_id, End_log_pos, Info
			var kind, info string
			dest := []any{new(sql.RawBytes), new(sql.RawBytes), &kind, new(sql.RawBytes), new(sql.RawBytes), &info}
			for len(dest) < len(cols) {
				dest = append(dest, new(sql.RawBytes))
			}
			if err := rows.Scan(dest...); err != nil {
				e.t.Fatal(err)
			}
			if kind == "Binlog_checkpoint" && info == file {
				return true
			}
		}
		return false
	})
}

// moveCheckpoint sets a flow's stored checkpoint to file:4, as if binflow
// had been stopped while the upstream's binlogs rotated.
func (e *env) moveCheckpoint(flow, file string) {
	e.t.Helper()
	q := "UPDATE " + e.tbl("binflow_checkpoints") + " SET binlog_file = ?, binlog_pos = 4 WHERE flow = ?"
	if e.store == storePostgres {
		q = "UPDATE binflow_checkpoints SET binlog_file = $1, binlog_pos = 4 WHERE flow = $2"
	}
	e.exec(e.down, q, file, flow)
}

// offlineStatus runs `binflow status` and `binflow status --json`.
func (e *env) offlineStatus() (string, status.Report) {
	e.t.Helper()
	run := func(args ...string) []byte {
		out, err := e.command(append([]string{"status"}, args...)...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			e.t.Fatalf("binflow status %v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	text := string(run())
	out := run("--json")
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("binflow status --json: %v\n%s", err, out)
	}
	return text, r
}

// flowLine is the line of binflow status's table for a flow.
func flowLine(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return line
		}
	}
	return ""
}

// checkOfflineStatus checks what both forms of `binflow status` say of every
// flow (but those in except) against the checkpoints stored downstream and
// the upstream's end.
func checkOfflineStatus(t *testing.T, text string, r status.Report, stored map[string]storedCheckpointRow, upFile string, upPos uint64, except ...string) {
	t.Helper()
	if r.Source != "offline" || r.Phase != status.PhaseUnknown || r.Ready {
		t.Errorf("binflow status --json: source %q, phase %q, ready %v; want offline, %s, not ready", r.Source, r.Phase, r.Ready, status.PhaseUnknown)
	}
	if r.Upstream.Error != "" {
		t.Fatalf("binflow status --json cannot read the upstream: %s", r.Upstream.Error)
	}
	if got := r.Upstream.Position; got.File != upFile || uint64(got.Pos) != upPos {
		t.Errorf("binflow status --json: upstream at %s, want %s:%d", got, upFile, upPos)
	}
	if !strings.HasPrefix(text, "binflow: unknown, not ready (offline: checkpoints in ") {
		t.Errorf("binflow status does not say it shows the offline view:\n%s", text)
	}
	if !strings.Contains(text, fmt.Sprintf(" at %s:%d; binlogs ", upFile, upPos)) {
		t.Errorf("binflow status does not show the upstream at %s:%d:\n%s", upFile, upPos, text)
	}
	var names []string
	for _, f := range r.Flows {
		names = append(names, f.Name)
	}
	if want := []string{"orders_copy", "customer_totals", "big_orders", "customers_by_country"}; !slices.Equal(names, want) {
		t.Errorf("binflow status --json names flows %v, want %v (config order)", names, want)
	}
	for _, f := range r.Flows {
		if slices.Contains(except, f.Name) {
			continue
		}
		c, ok := stored[f.Name]
		if !ok {
			t.Errorf("flow %s has no stored checkpoint", f.Name)
			continue
		}
		cp := f.Checkpoint
		if cp.Position.File != c.file || uint64(cp.Position.Pos) != c.pos || cp.GTID != c.gtid {
			t.Errorf("flow %s: status shows checkpoint %s gtid %q, stored %s:%d gtid %q", f.Name, cp.Position, cp.GTID, c.file, c.pos, c.gtid)
		}
		if !cp.CommitTime.Equal(c.commitTime) {
			t.Errorf("flow %s: status shows commit time %v, stored %v", f.Name, cp.CommitTime, c.commitTime)
		}
		if f.State != status.StateUnknown {
			t.Errorf("flow %s: state %q, want %q", f.Name, f.State, status.StateUnknown)
		}
		// Offline, lag is measured from the checkpoint alone.
		atEnd := c.file > upFile || (c.file == upFile && c.pos >= upPos)
		if f.CaughtUp != atEnd {
			t.Errorf("flow %s at %s:%d, upstream at %s:%d: caught up %v", f.Name, c.file, c.pos, upFile, upPos, f.CaughtUp)
		}
		if !f.LagBytesKnown {
			t.Errorf("flow %s: lag in bytes unknown, though its binlog is there", f.Name)
		}
		switch {
		case atEnd:
			if f.LagSeconds != 0 || f.LagBytes != 0 {
				t.Errorf("flow %s is caught up, yet lags %vs, %d bytes", f.Name, f.LagSeconds, f.LagBytes)
			}
		default:
			if want := r.Time.Sub(c.commitTime).Seconds(); c.commitTime.IsZero() || math.Abs(f.LagSeconds-want) > 1e-3 {
				t.Errorf("flow %s: lag %vs, want the report's time minus its commit time %v: %vs", f.Name, f.LagSeconds, c.commitTime, want)
			}
			if c.file == upFile && f.LagBytes != upPos-c.pos {
				t.Errorf("flow %s at %s:%d: %d bytes behind %s:%d, want %d", f.Name, c.file, c.pos, f.LagBytes, upFile, upPos, upPos-c.pos)
			}
			if f.LagBytes == 0 {
				t.Errorf("flow %s at %s:%d is behind %s:%d by 0 bytes", f.Name, c.file, c.pos, upFile, upPos)
			}
		}

		line := flowLine(text, f.Name)
		if line == "" {
			t.Errorf("binflow status has no line for flow %s:\n%s", f.Name, text)
			continue
		}
		wantText := []string{" unknown ", fmt.Sprintf(" %s:%d ", c.file, c.pos)}
		if !c.commitTime.IsZero() {
			wantText = append(wantText, " "+c.commitTime.Format(time.RFC3339)+" ")
		}
		for _, want := range wantText {
			if !strings.Contains(line, want) {
				t.Errorf("binflow status's line for flow %s does not show %q:\n%s", f.Name, want, line)
			}
		}
		if strings.Contains(line, "(caught up)") != atEnd {
			t.Errorf("binflow status's line for flow %s (at %s:%d, upstream at %s:%d):\n%s", f.Name, c.file, c.pos, upFile, upPos, line)
		}
	}
}

func TestOfflineStatusInEveryStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store})
		// Start in a fresh binlog so that the checkpoints never lie in the
		// oldest one, whatever earlier tests purged.
		e.exec(e.up, "FLUSH BINARY LOGS")
		e.waitForBinlogCheckpoint()
		loadStart := time.Now()
		p := e.start()
		e.load(5, 3, 3)
		e.caughtUp(30 * time.Second)
		e.stop(p)
		loadEnd := time.Now()

		stored := e.checkpointRows()
		if len(stored) != flowCount {
			t.Fatalf("%d checkpoints stored, want %d: %v", len(stored), flowCount, stored)
		}
		for name, c := range stored {
			// The upstream's commit times are whole seconds, on this host's clock.
			if c.commitTime.Before(loadStart.Truncate(time.Second)) || c.commitTime.After(loadEnd) {
				t.Errorf("flow %s: stored commit time %v, not within the load (%v to %v)", name, c.commitTime, loadStart, loadEnd)
			}
		}

		// Stopped where the upstream ends: every flow is caught up.
		upFile, upPos := e.upstreamPos()
		text, r := e.offlineStatus()
		checkOfflineStatus(t, text, r, stored, upFile, upPos)
		for _, f := range r.Flows {
			if !f.CaughtUp {
				t.Errorf("flow %s, stopped at the upstream's end %s:%d, is not caught up: %+v", f.Name, upFile, upPos, f)
			}
		}
		if len(r.Warnings) != 0 || strings.Contains(text, "warnings:") {
			t.Errorf("binflow status warns of current checkpoints: %v\n%s", r.Warnings, text)
		}

		// One more upstream transaction while binflow is down: every flow
		// is behind it.
		e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (1, 9.99, 'new', NOW(6))")
		upFile, upPos = e.upstreamPos()
		text, r = e.offlineStatus()
		checkOfflineStatus(t, text, r, stored, upFile, upPos)
		for _, f := range r.Flows {
			if f.CaughtUp {
				t.Errorf("flow %s is caught up past a transaction it has not applied: %+v", f.Name, f)
			}
		}

		// Checkpoints as they would stand had binflow been stopped long
		// enough: one in the oldest binlog, one in a binlog already purged.
		files := binlogNames(t, e)
		if len(files) < 2 {
			t.Fatalf("the upstream lists binlogs %v after FLUSH BINARY LOGS; want at least two", files)
		}
		oldest := files[0]
		e.moveCheckpoint("orders_copy", oldest)
		purged := ""
		if base, seq, _ := strings.Cut(oldest, "."); seq != "" {
			if n, err := strconv.Atoi(seq); err == nil && n > 0 {
				purged = fmt.Sprintf("%s.%0*d", base, len(seq), n-1)
				e.moveCheckpoint("big_orders", purged)
			}
		}
		stored = e.checkpointRows()
		text, r = e.offlineStatus()
		// big_orders, if moved to a purged binlog, is checked below: its
		// lag in bytes cannot be measured.
		var except []string
		if purged != "" {
			except = []string{"big_orders"}
		}
		checkOfflineStatus(t, text, r, stored, upFile, upPos, except...)
		atRisk := "flow orders_copy: checkpoint " + oldest + ":4 is in " + oldest + ", the oldest binlog the upstream has: the next PURGE BINARY LOGS or binlog expiry removes it"
		wantText := []string{atRisk}
		want := map[string][2]bool{"orders_copy": {true, false}, "customer_totals": {false, false}, "customers_by_country": {false, false}}
		if purged != "" {
			wantText = append(wantText, "flow big_orders: checkpoint "+purged+":4 is in a binlog the upstream has purged (its oldest is "+oldest+")")
			want["big_orders"] = [2]bool{true, true}
		}
		for _, w := range wantText {
			if !strings.Contains(text, "warnings:\n") || !strings.Contains(text, w) {
				t.Errorf("binflow status does not warn %q:\n%s", w, text)
			}
			if !slices.ContainsFunc(r.Warnings, func(s string) bool { return strings.HasPrefix(s, w) }) {
				t.Errorf("binflow status --json warnings %q do not say %q", r.Warnings, w)
			}
		}
		if len(r.Warnings) != len(wantText) {
			t.Errorf("binflow status --json warnings %q, want %d", r.Warnings, len(wantText))
		}
		for name, w := range want {
			f := flowIn(r, name)
			if f.Retention.AtRisk != w[0] || f.Retention.Purged != w[1] {
				t.Errorf("flow %s retention %+v, want at risk %v, purged %v", name, f.Retention, w[0], w[1])
			}
		}
		if purged != "" {
			f := flowIn(r, "big_orders")
			if f.LagBytesKnown || f.CaughtUp || f.Checkpoint.Position.String() != purged+":4" {
				t.Errorf("big_orders, moved to %s:4, a purged binlog: %+v", purged, f)
			}
		}
	})
}

// doomedFlow copies SHOP.orders into doomed_copy, a table the test drops
// to make the flow fail.
const doomedFlow = `
[[flows]]
name = "doomed"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "amount"]
  [[flows.functions]]
  kind = "sink"
  table = "doomed_copy"
  key = ["id"]
`

var doomedDDL = storeDDL{
	mysql:    "CREATE TABLE D.doomed_copy (id BIGINT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL)",
	postgres: "CREATE TABLE doomed_copy (id BIGINT PRIMARY KEY, amount NUMERIC(12,2) NOT NULL)",
	sqlite:   "CREATE TABLE doomed_copy (id INTEGER PRIMARY KEY, amount TEXT NOT NULL) STRICT",
}

// stopAny sends SIGTERM and waits for binflow to exit, however it exits
// (1 when a flow failed, by design).
func (e *env) stopAny(p *process) {
	e.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		e.t.Fatalf("binflow did not stop within 20s of SIGTERM")
	}
}

// A flow that failed shows, after binflow has stopped, as failed with its
// last error and the error's time in `binflow status` (read from
// binflow_flow_errors); once it has committed again it is no longer
// failed, and the error stays as its last; in every store.
func TestOfflineStatusShowsTheLastErrorInEveryStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: doomedFlow})
		e.createTables(doomedDDL)
		p := e.start()
		e.load(5, 3, 3)
		e.caughtUp(30 * time.Second)

		dropped := time.Now()
		e.exec(e.down, "DROP TABLE "+e.tbl("doomed_copy"))
		e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (1, 9.99, 'new', NOW(6))")
		e.waitFor(30*time.Second, "flow doomed to fail", func() bool {
			return strings.Contains(p.out.String(), `"flow":"doomed","error":`) && strings.Contains(p.out.String(), `"message":"flow stopped"`)
		})
		e.caughtUpFlows(30*time.Second, "orders_copy", "customer_totals", "big_orders", "customers_by_country")
		e.stopAny(p)
		stopped := time.Now()

		text, r := e.offlineStatus()
		doomed := flowIn(r, "doomed")
		le := doomed.LastError
		if doomed.State != "failed" || le == nil || le.Kind != "downstream" || !strings.Contains(le.Message, "flow doomed: commit batch at ") ||
			!strings.Contains(le.Message, "doomed_copy") {
			t.Fatalf("binflow status --json of the failed flow: state %q, last error %+v\n%s", doomed.State, le, text)
		}
		if le.Time.Before(dropped.Add(-time.Millisecond)) || le.Time.After(stopped) {
			t.Errorf("last error at %v, not between the DROP (%v) and the stop (%v)", le.Time, dropped, stopped)
		}
		if want := "flow doomed: last error (downstream, at " + le.Time.UTC().Format(time.RFC3339) + ", "; !strings.Contains(text, want) {
			t.Errorf("binflow status does not say %q:\n%s", want, text)
		}
		if line := flowLine(text, "doomed"); !strings.Contains(line, " failed ") {
			t.Errorf("binflow status's line for flow doomed: %q", line)
		}
		if !slices.ContainsFunc(r.NotReady, func(s string) bool { return strings.HasPrefix(s, "flow doomed is failed since ") }) {
			t.Errorf("binflow status --json not ready: %q; want flow doomed failed", r.NotReady)
		}
		for _, name := range []string{"orders_copy", "customer_totals", "big_orders", "customers_by_country"} {
			if f := flowIn(r, name); f.State != status.StateUnknown || f.LastError != nil {
				t.Errorf("flow %s: state %q, last error %+v", name, f.State, f.LastError)
			}
		}

		// The table back, binflow again, nothing new upstream: the flow runs
		// again, so offline it is failed no more, although its checkpoint
		// has not moved; the error stays as its last.
		e.createTables(doomedDDL)
		p = e.start()
		e.waitFor(30*time.Second, "binflow to note that flow doomed runs again", func() bool {
			var n int
			err := e.down.QueryRow("SELECT COUNT(*) FROM " + e.tbl("binflow_flow_errors") + " WHERE flow = 'doomed' AND resumed_at IS NOT NULL").Scan(&n)
			return err == nil && n == 1
		})
		e.stop(p)
		text, r = e.offlineStatus()
		if doomed := flowIn(r, "doomed"); doomed.State == "failed" || doomed.LastError == nil || !doomed.LastError.Time.Equal(le.Time) {
			t.Errorf("flow doomed restarted with nothing to apply: state %q, last error %+v (was %+v)\n%s", doomed.State, doomed.LastError, le, text)
		}

		// binflow again, and an order: the flow applies what it missed, its
		// checkpoint moves; still not failed, the error still its last.
		p = e.start()
		e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (2, 19.99, 'new', NOW(6))")
		e.caughtUp(30 * time.Second)
		e.stop(p)
		text, r = e.offlineStatus()
		doomed = flowIn(r, "doomed")
		if doomed.State != status.StateUnknown || doomed.LastError == nil || !doomed.LastError.Time.Equal(le.Time) {
			t.Errorf("flow doomed after it committed again: state %q, last error %+v (was %+v)\n%s", doomed.State, doomed.LastError, le, text)
		}
		if slices.ContainsFunc(r.NotReady, func(s string) bool { return strings.Contains(s, "flow doomed") }) {
			t.Errorf("binflow status --json not ready: %q; flow doomed is not failed any more", r.NotReady)
		}
		if n := e.count("doomed_copy"); n != 2 {
			t.Errorf("doomed_copy holds %d rows after the restart, want the 2 orders written since it failed", n)
		}
		e.verify()
	})
}
