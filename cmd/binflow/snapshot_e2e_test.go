package main

// Snapshots, rebuild, verify and reset, end to end: the real binary against
// the testenv servers, each scenario ending with every derived table
// compared with its SQL recomputation on the upstream.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// snapshotConfig makes snapshots commit often, so that a test can stop one
// in its middle.
const snapshotConfig = `
[snapshot]
chunk_rows = 300
max_rows = 600
max_delay = "20ms"
progress_interval = "200ms"
`

// snapshotWindowsConfig is snapshotConfig with the windows method: about
// max_rows rows per window, reconciled with the binlog written meanwhile.
const snapshotWindowsConfig = snapshotConfig + `method = "windows"
`

// windowsStores are the stores the windows method's end-to-end tests run
// against (the method is upstream-side: two stores keep the time down).
var windowsStores = []string{storeMySQL, storeSQLite}

// preload writes orders and customers in bulk, before binflow starts.
func (e *env) preload(orders, customers int) {
	e.t.Helper()
	for done := 0; done < customers; {
		n := min(1000, customers-done)
		var b strings.Builder
		b.WriteString("INSERT INTO `" + e.shop + "`.customers (name, country) VALUES ")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "('c%d', '%s')", done+i, countries[(done+i)%len(countries)])
		}
		e.exec(e.up, b.String())
		done += n
	}
	for done := 0; done < orders; {
		n := min(2000, orders-done)
		var b strings.Builder
		b.WriteString("INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, note, created_at) VALUES ")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d, '%s', '%s', 'n\u00e9', '2025-01-02 03:04:05.%06d')", e.rng.Intn(200)+1, e.randomAmount(),
				statuses[e.rng.Intn(len(statuses))], e.rng.Intn(1000000))
		}
		e.exec(e.up, b.String())
		done += n
	}
	e.nextID, e.nextCustomer = int64(orders), int64(customers)
}

// startSnapshotting starts binflow without waiting for checkpoints (they
// appear when the snapshots end).
func (e *env) startSnapshotting() *process {
	e.t.Helper()
	return e.launch("binflow", e.command("run"), func() bool { return true })
}

// alive fails the test if binflow exited.
func (e *env) alive(p *process) {
	e.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		e.t.Fatalf("binflow exited: %v\n%s", err, tail(p.out.String(), 6000))
	default:
	}
}

// snapshotsDone waits until every flow has a checkpoint and no snapshot
// progress is left.
func (e *env) snapshotsDone(p *process, timeout time.Duration) {
	e.t.Helper()
	e.waitFor(timeout, "the snapshots to finish", func() bool {
		e.alive(p)
		return e.count("binflow_checkpoints") >= flowCount && e.count("binflow_snapshots") == 0
	})
}

func (e *env) count(table string) int {
	var n int
	_ = e.down.QueryRow("SELECT COUNT(*) FROM " + e.tbl(table)).Scan(&n)
	return n
}

// writer runs random upstream transactions until stopped.
type writer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	txns   atomic.Int64
	err    error
}

func (e *env) startWriter() *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for ctx.Err() == nil {
			if err := e.writeTxn(ctx, 1+e.rng.Intn(4), 200); err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				return
			}
			w.txns.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) stop(t *testing.T) int64 {
	t.Helper()
	w.cancel()
	w.wg.Wait()
	if w.err != nil && !errors.Is(w.err, context.Canceled) {
		t.Fatalf("upstream writer: %v", w.err)
	}
	return w.txns.Load()
}

// runCommand runs a binflow subcommand and returns its output and exit code.
func (e *env) runCommand(args ...string) (string, int) {
	e.t.Helper()
	out, err := e.command(args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	e.t.Fatalf("binflow %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// The rows a table held before binflow started are in its derived tables,
// exactly once, although the table is written to during the snapshot; in
// every store.
func TestSnapshotWithConcurrentWriter(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) { snapshotWithConcurrentWriter(t, store, false) })
}

// The same with snapshot.method = "windows" (no long view): each window's
// rows reconciled with the binlog written while they were read.
func TestSnapshotWindowsWithConcurrentWriter(t *testing.T) {
	for _, store := range windowsStores {
		t.Run(store, func(t *testing.T) { snapshotWithConcurrentWriter(t, store, true) })
	}
}

func snapshotWithConcurrentWriter(t *testing.T, store string, windows bool) {
	cfg, opened := snapshotConfig, "consistent view opened"
	if windows {
		cfg, opened = snapshotWindowsConfig, "copying the tables in windows"
	}
	e := newEnv(t, envOptions{store: store, extraFlow: cfg})
	e.preload(10000, 1000)
	w := e.startWriter()
	p := e.startSnapshotting()
	e.snapshotsDone(p, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // streaming after the snapshot, still under writes
	txns := w.stop(t)
	e.caughtUp(60 * time.Second)
	rows := e.verify()
	out := p.out.String()
	for _, want := range []string{opened, "snapshot done", "snapshot progress"} {
		if !strings.Contains(out, want) {
			t.Errorf("binflow's log lacks %q", want)
		}
	}
	e.stop(p)
	if windows && strings.Contains(out, "consistent view opened") {
		t.Errorf("the windows method opened a long consistent view")
	}
	t.Logf("snapshot of 11000 rows under %d concurrent transactions: %d derived rows verified", txns, rows)
}

var resumedRE = regexp.MustCompile(`"flow":"([a-z_]+)".*"rows_done":(\d+).*snapshot: resuming after the last committed chunk`)

// kill -9 in the middle of a snapshot, twice: each restart resumes after the
// last committed chunk (not from zero) and the result is exact; in every
// store.
func TestSnapshotResumesAfterKill9(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) { snapshotResumesAfterKill9(t, store, snapshotConfig) })
}

// The same with snapshot.method = "windows": a restart goes on with the
// windows from the recorded position (no view to catch up to).
func TestSnapshotWindowsResumesAfterKill9(t *testing.T) {
	for _, store := range windowsStores {
		t.Run(store, func(t *testing.T) { snapshotResumesAfterKill9(t, store, snapshotWindowsConfig) })
	}
}

func snapshotResumesAfterKill9(t *testing.T, store, cfg string) {
	e := newEnv(t, envOptions{store: store, extraFlow: cfg})
	e.preload(20000, 2000)
	w := e.startWriter()
	resumed := map[string]int{}
	for kill := 1; kill <= 2; kill++ {
		p := e.startSnapshotting()
		// Wait for progress past the last kill's, then kill.
		var flowName string
		var at int
		e.waitFor(60*time.Second, "a snapshot in progress", func() bool {
			e.alive(p)
			err := e.down.QueryRow(fmt.Sprintf("SELECT flow, rows_done FROM %s "+
				"WHERE flow = 'orders_copy' AND rows_done > %d AND rows_done < 15000", e.tbl("binflow_snapshots"), resumed["orders_copy"]+600)).Scan(&flowName, &at)
			return err == nil
		})
		e.kill9(p)
		var recorded int
		if err := e.down.QueryRow("SELECT rows_done FROM " + e.tbl("binflow_snapshots") + " WHERE flow = 'orders_copy'").Scan(&recorded); err != nil {
			t.Fatalf("kill %d: no snapshot progress left for orders_copy: %v", kill, err)
		}
		resumed["orders_copy"] = recorded
		t.Logf("kill %d: orders_copy killed with %d rows copied", kill, recorded)
	}
	p := e.startSnapshotting()
	e.snapshotsDone(p, 90*time.Second)
	txns := w.stop(t)
	e.caughtUp(60 * time.Second)
	rows := e.verify()

	// The last run resumed orders_copy where the last kill left it.
	m := resumedRE.FindAllStringSubmatch(p.out.String(), -1)
	found := false
	for _, g := range m {
		if g[1] == "orders_copy" {
			n, _ := strconv.Atoi(g[2])
			if n != resumed["orders_copy"] {
				t.Errorf("orders_copy resumed at %d rows, the progress record said %d", n, resumed["orders_copy"])
			}
			found = true
		}
	}
	if !found {
		t.Errorf("no log line says orders_copy resumed after its last chunk")
	}
	if !strings.Contains(p.out.String(), `"resumes":2`) {
		t.Errorf("the finished snapshot does not count 2 resumes")
	}
	e.stop(p)
	t.Logf("2 kills mid-snapshot under %d concurrent transactions: resumed at %d rows; %d derived rows verified", txns, resumed["orders_copy"], rows)
}

// verify passes on a correct flow, also while binflow runs and the
// upstream is written, and catches rows changed by hand; in every store.
func TestVerifyCatchesHandEditedRows(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: snapshotConfig})
		e.preload(3000, 100)
		p := e.startSnapshotting()
		e.snapshotsDone(p, 60*time.Second)
		w := e.startWriter()
		time.Sleep(300 * time.Millisecond)
		for _, f := range []string{"customer_totals", "orders_copy", "big_orders"} {
			out, code := e.runCommand("verify", f)
			if code != 0 || !strings.Contains(out, "match the recomputation") {
				t.Fatalf("verify %s on a correct flow, under writes: exit %d\n%s", f, code, out)
			}
		}
		w.stop(t)
		e.caughtUp(30 * time.Second)
		// verify's binlog replay presents its own server_id: the running
		// binflow's reader was never pushed off (error 4052).
		if strings.Contains(p.out.String(), "already connected") {
			t.Errorf("binflow verify's binlog connection displaced the running reader:\n%s", tail(p.out.String(), 2000))
		}

		var customer, count int
		if err := e.down.QueryRow("SELECT customer_id, order_count FROM "+e.tbl("customer_totals")+" ORDER BY customer_id LIMIT 1").Scan(&customer, &count); err != nil {
			t.Fatal(err)
		}
		e.exec(e.down, fmt.Sprintf("UPDATE %s SET order_count = order_count + 1 WHERE customer_id = %d", e.tbl("customer_totals"), customer))
		out, code := e.runCommand("verify", "customer_totals")
		if code != 1 || !strings.Contains(out, "1 differing") || !strings.Contains(out, fmt.Sprintf("order_count: %d, want %d", count+1, count)) {
			t.Errorf("verify customer_totals after a hand edit: exit %d\n%s", code, out)
		}
		var id int
		if err := e.down.QueryRow("SELECT id FROM " + e.tbl("orders_copy") + " ORDER BY id LIMIT 1").Scan(&id); err != nil {
			t.Fatal(err)
		}
		e.exec(e.down, fmt.Sprintf("DELETE FROM %s WHERE id = %d", e.tbl("orders_copy"), id))
		e.exec(e.down, "INSERT INTO "+e.tbl("orders_copy")+" VALUES (999999999, 1, '1.00', 'new', '2025-01-01 00:00:00.000000')")
		out, code = e.runCommand("verify", "orders_copy")
		if code != 1 || !strings.Contains(out, "1 missing, 1 extra") || !strings.Contains(out, "id=999999999") {
			t.Errorf("verify orders_copy after a deleted and an added row: exit %d\n%s", code, out)
		}
		// A total changed in its last digit: decimals compare exactly (SQLite
		// keeps them as text).
		var other int
		var total string
		if err := e.down.QueryRow(fmt.Sprintf("SELECT customer_id, total_amount FROM %s WHERE customer_id > %d ORDER BY customer_id LIMIT 1",
			e.tbl("customer_totals"), customer)).Scan(&other, &total); err != nil {
			t.Fatal(err)
		}
		edited := decimal.RequireFromString(total).Add(decimal.New(1, -2)).StringFixed(2)
		e.exec(e.down, fmt.Sprintf("UPDATE %s SET total_amount = '%s' WHERE customer_id = %d", e.tbl("customer_totals"), edited, other))
		out, code = e.runCommand("verify", "customer_totals")
		if code != 1 || !strings.Contains(out, "2 differing") || !strings.Contains(out, "total_amount: ") || !strings.Contains(out, edited) {
			t.Errorf("verify customer_totals after a total changed by 0.01: exit %d\n%s", code, out)
		}
		out, code = e.runCommand("verify", "no_such_flow")
		if code == 0 || !strings.Contains(out, `no flow named "no_such_flow"`) {
			t.Errorf("verify of an unknown flow: exit %d\n%s", code, out)
		}
		e.stop(p)
	})
}

// rebuild, while binflow runs and the upstream is written, recomputes a
// corrupted derived table; the other flows go on meanwhile.
func TestRebuildRecomputesACorruptedTable(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: snapshotConfig})
		e.preload(5000, 300)
		p := e.startSnapshotting()
		e.snapshotsDone(p, 60*time.Second)
		w := e.startWriter()
		e.exec(e.down, "UPDATE "+e.tbl("customer_totals")+" SET order_count = order_count + 5, total_amount = '0' WHERE customer_id % 3 = 0")
		e.exec(e.down, "DELETE FROM "+e.tbl("customer_totals")+" WHERE customer_id % 7 = 0")
		if out, code := e.runCommand("verify", "customer_totals"); code != 1 {
			t.Fatalf("verify of the corrupted table: exit %d\n%s", code, out)
		}
		before := e.checkpointOf("orders_copy")
		out, code := e.runCommand("rebuild", "customer_totals")
		if code != 0 || !strings.Contains(out, "snapshot is requested") {
			t.Fatalf("rebuild: exit %d\n%s", code, out)
		}
		e.waitFor(30*time.Second, "the running binflow to rebuild customer_totals", func() bool {
			e.alive(p)
			return strings.Count(p.out.String(), "snapshot done") >= flowCount+1
		})
		e.snapshotsDone(p, 30*time.Second)
		time.Sleep(200 * time.Millisecond)
		txns := w.stop(t)
		e.caughtUp(60 * time.Second)
		rows := e.verify()
		if after := e.checkpointOf("orders_copy"); after == before {
			t.Errorf("orders_copy's checkpoint did not move while customer_totals was rebuilt (%s)", before)
		}
		if out, code := e.runCommand("verify", "customer_totals"); code != 0 {
			t.Errorf("verify after the rebuild: exit %d\n%s", code, out)
		}
		// The rebuilt flow caught up on a binlog connection of its own,
		// beside the shared reader: each with its own server_id.
		if strings.Contains(p.out.String(), "already connected") {
			t.Errorf("two of binflow's binlog connections shared a server_id:\n%s", tail(p.out.String(), 2000))
		}
		e.stop(p)
		t.Logf("rebuilt under %d concurrent transactions; %d derived rows verified", txns, rows)
	})
}

// checkpointOf is a flow's stored checkpoint as FILE:POS.
func (e *env) checkpointOf(flow string) string {
	e.t.Helper()
	cps, err := e.checkpoints()
	if err != nil {
		e.t.Fatal(err)
	}
	c, ok := cps[flow]
	if !ok {
		e.t.Fatalf("flow %s has no checkpoint", flow)
	}
	return fmt.Sprintf("%s:%d", c.file, c.pos)
}

// reset refuses without --yes, moves the checkpoint with it (to a position
// or a GTID set), and refuses a position inside a transaction.
func TestResetRequiresYesAndMovesTheCheckpoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: snapshotConfig})
		p := e.start()
		e.load(20, 3, 20)
		e.caughtUp(30 * time.Second)
		e.stop(p)
		checkpoint := func() (string, string) {
			cps, err := e.checkpoints()
			if err != nil {
				t.Fatal(err)
			}
			return e.checkpointOf("orders_copy"), cps["orders_copy"].gtid
		}
		oldPos, oldGTID := checkpoint()
		file, _ := e.upstreamPos()
		var mid string // the position after the second of the last transactions
		var gtidMid string
		rows, err := e.up.Query("SHOW BINLOG EVENTS IN '" + file + "'")
		if err != nil {
			t.Fatal(err)
		}
		var xids []string
		var inside string
		for rows.Next() {
			var name, typ, info string
			var pos, server, end int64
			if err := rows.Scan(&name, &pos, &typ, &server, &end, &info); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "Xid":
				xids = append(xids, fmt.Sprintf("%s:%d", file, end))
			case "Table_map":
				inside = fmt.Sprintf("%s:%d", file, pos)
			}
		}
		rows.Close()
		if len(xids) < 3 || inside == "" {
			t.Fatalf("binlog %s has %d transactions", file, len(xids))
		}
		mid = xids[len(xids)-3]
		midFile, midPos, _ := strings.Cut(mid, ":")
		if err := e.up.QueryRow("SELECT BINLOG_GTID_POS(?, ?)", midFile, midPos).Scan(&gtidMid); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name    string
			args    []string
			code    int
			wantPos string // "" keeps the previous checkpoint
			output  string
		}{
			{"without --yes", []string{"reset", "orders_copy", "--to", mid}, 2, "", "refusing without --yes"},
			{"without --to", []string{"reset", "orders_copy", "--yes"}, 1, "", "--to is required"},
			{"no flow name", []string{"reset", "--to", mid, "--yes"}, 2, "", "expected one flow name"},
			{"inside a transaction", []string{"reset", "orders_copy", "--to", inside, "--yes"}, 1, "", "inside a transaction"},
			{"missing binlog", []string{"reset", "orders_copy", "--to", "mysql-bin.999999:4", "--yes"}, 1, "", "has no binlog"},
			{"to a position", []string{"reset", "orders_copy", "--to", mid, "--yes"}, 0, mid, "checkpoint moved from " + oldPos},
			{"to a GTID set", []string{"reset", "orders_copy", "--yes", "--to", oldGTID}, 0, oldPos, "checkpoint moved from " + mid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _ := checkpoint()
				out, code := e.runCommand(tt.args...)
				if code != tt.code || !strings.Contains(out, tt.output) {
					t.Fatalf("binflow %s: exit %d, want %d with %q\n%s", strings.Join(tt.args, " "), code, tt.code, tt.output, out)
				}
				want := tt.wantPos
				if want == "" {
					want = before
				}
				if got, _ := checkpoint(); got != want {
					t.Errorf("checkpoint = %s, want %s", got, want)
				}
			})
		}
		// Moved back to the middle: the flow re-applies what follows, and a
		// copy flow (upserts by key) ends equal to the upstream.
		if out, code := e.runCommand("reset", "orders_copy", "--to", mid, "--yes"); code != 0 {
			t.Fatalf("reset: %d\n%s", code, out)
		}
		if _, g := checkpoint(); g != gtidMid {
			t.Errorf("checkpoint GTID after reset = %q, want %q", g, gtidMid)
		}
		p = e.start()
		e.caughtUp(30 * time.Second)
		e.verify()
		e.stop(p)
	})
}

// A flow over a table without a primary key cannot be snapshotted: that
// flow fails, saying so and naming the way out; the others go on.
func TestSnapshotOfTableWithoutPrimaryKeyFails(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: snapshotConfig})
	e.exec(e.up, "CREATE TABLE `"+e.shop+"`.nopk (a INT, b INT)")
	e.exec(e.up, "INSERT INTO `"+e.shop+"`.nopk VALUES (1, 2)")
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.nopk_copy (a INT PRIMARY KEY, b INT)")
	f, err := os.OpenFile(e.configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[flows]]\nname = \"nopk_copy\"\ntables = [\"%s.nopk\"]\n  [[flows.functions]]\n  kind = \"sink\"\n  table = \"nopk_copy\"\n  key = [\"a\"]\n", e.shop)
	f.Close()
	p := e.startSnapshotting()
	e.snapshotsDone(p, 30*time.Second) // the four other flows
	e.waitFor(10*time.Second, "the nopk flow to fail", func() bool {
		return strings.Contains(p.out.String(), "has no primary key")
	})
	out := p.out.String()
	if !strings.Contains(out, "nopk has no primary key") || !strings.Contains(out, `upstream.start = \"current\"`) {
		t.Errorf("the error does not name the table and the way out:\n%s", tail(out, 3000))
	}
	e.load(5, 3, 20)
	e.caughtUpN(30*time.Second, flowCount) // all but the failed nopk flow
	e.verify()
	e.kill9(p) // a failed flow makes binflow exit 1 at the end, by design
}

// A snapshot whose derived table disappears fails that flow with an error
// naming the flow, the table being copied, the key reached and the view's
// binlog position; the other flows finish their snapshots and stream.
func TestSnapshotErrorNamesFlowTableAndPosition(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: snapshotConfig})
	e.preload(20000, 500)
	p := e.startSnapshotting()
	e.waitFor(60*time.Second, "customer_totals' snapshot in progress", func() bool {
		e.alive(p)
		var rows int
		err := e.down.QueryRow("SELECT rows_done FROM " + e.tbl("binflow_snapshots") + " WHERE flow = 'customer_totals' AND rows_done > 0").Scan(&rows)
		return err == nil && rows < 15000
	})
	e.exec(e.down, "DROP TABLE "+e.tbl("customer_totals"))
	deadline := time.Now().Add(30 * time.Second)
	failed := func() bool {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, `"flow":"customer_totals"`) && strings.Contains(line, `"state":"failed"`) {
				return true
			}
		}
		return false
	}
	for !failed() {
		if time.Now().After(deadline) {
			var notable []string
			for _, line := range strings.Split(p.out.String(), "\n") {
				if strings.Contains(line, `"level":"warn"`) || strings.Contains(line, `"level":"error"`) {
					notable = append(notable, line)
				}
			}
			t.Fatalf("customer_totals did not fail within 30 s of its table's drop; warnings and errors:\n%s", strings.Join(notable, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var failure string
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, `"flow":"customer_totals"`) && strings.Contains(line, `"message":"flow stopped"`) {
			failure = line
		}
	}
	for _, want := range []string{"flow customer_totals: snapshot", "commit snapshot batch, view at mysql-bin.",
		"table " + e.shop + ".orders after key (", "to customer_totals", "doesn't exist"} {
		if !strings.Contains(failure, want) {
			t.Errorf("the flow's failure does not say %q:\n%s", want, failure)
		}
	}
	// The others go on.
	e.waitFor(60*time.Second, "the other flows' snapshots", func() bool {
		e.alive(p)
		return e.count("binflow_checkpoints") >= flowCount-1
	})
	e.stopFailed(p, "customer_totals")
}

// The windows method on a table keyed by a case-insensitive string, while
// a writer moves keys across the whole key range (so across the copied
// range's boundary and the window being read), changes their case (the
// same key in the collation), updates, deletes and inserts rows: the copy
// equals the table.
func TestSnapshotWindowsMovingStringKeys(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: snapshotWindowsConfig})
	e.exec(e.up, "CREATE TABLE `"+e.shop+"`.tags (name VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci PRIMARY KEY, n INT NOT NULL)")
	e.exec(e.down, "CREATE TABLE "+e.tbl("tags_copy")+" (name VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci PRIMARY KEY, n INT NOT NULL)")
	f, err := os.OpenFile(e.configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[flows]]\nname = \"tags_copy\"\ntables = [\"%s.tags\"]\n  [[flows.functions]]\n  kind = \"sink\"\n  table = \"tags_copy\"\n  key = [\"name\"]\n", e.shop)
	f.Close()
	// Prefixes whose binary order is not the collation's ("B" < "a" in
	// bytes, "a" < "B" in utf8mb4_general_ci).
	prefixes := []string{"a", "A", "b", "B", "m", "Z", "z"}
	name := func() string { return fmt.Sprintf("%s%05d", prefixes[e.rng.Intn(len(prefixes))], e.rng.Intn(8000)) }
	for done := 0; done < 8000; done += 1000 {
		var b strings.Builder
		b.WriteString("INSERT IGNORE INTO `" + e.shop + "`.tags VALUES ")
		for i := 0; i < 1000; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "('%s', %d)", name(), i)
		}
		e.exec(e.up, b.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := e.rng
		for ctx.Err() == nil {
			var q string
			var args []any
			switch rng.Intn(5) {
			case 0: // moves a key anywhere in the range
				q, args = "UPDATE IGNORE `"+e.shop+"`.tags SET name = ?, n = n + 1 WHERE name = ?", []any{name(), name()}
			case 1: // the same key in the collation, in other bytes
				q, args = "UPDATE `"+e.shop+"`.tags SET name = IF(BINARY name = BINARY UPPER(name), LOWER(name), UPPER(name)), n = n + 1 WHERE name = ?", []any{name()}
			case 2:
				q, args = "UPDATE `"+e.shop+"`.tags SET n = n + 1 WHERE name = ?", []any{name()}
			case 3:
				q, args = "DELETE FROM `"+e.shop+"`.tags WHERE name = ?", []any{name()}
			default:
				q, args = "INSERT IGNORE INTO `"+e.shop+"`.tags VALUES (?, 0)", []any{name()}
			}
			if _, err := e.up.ExecContext(ctx, q, args...); err != nil {
				if ctx.Err() == nil {
					werr = fmt.Errorf("%s: %w", q, err)
				}
				return
			}
			writes.Add(1)
		}
	}()
	p := e.startSnapshotting()
	e.snapshotsDone(p, 60*time.Second)
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	e.caughtUp(60 * time.Second)
	// The case a key is stored in downstream depends on the store's upsert,
	// not on the snapshot: rows compare by key in the collation.
	want := e.snapshot(e.up, "SELECT LOWER(name), n FROM `"+e.shop+"`.tags")
	got := e.snapshot(e.down, "SELECT LOWER(name), n FROM "+e.tbl("tags_copy"))
	if diff := diffRows(got, want); diff != "" {
		t.Errorf("tags_copy differs from the upstream's tags (%d rows, %d expected):\n%s", len(got), len(want), diff)
	}
	e.verify()
	e.stop(p)
	t.Logf("%d rows under %d concurrent key moves, case changes, updates, deletes and inserts: equal", len(want), writes.Load())
}
