package main

import (
	"context"
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

func TestRestartResumesWithoutDuplicates(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store})
		p := e.start()
		e.load(50, 10, 20)
		e.caughtUp(60 * time.Second)
		e.stop(p)
		e.verify()

		// Written while binflow is down: picked up after the restart, once.
		e.load(50, 10, 20)
		p = e.start()
		e.caughtUp(60 * time.Second)
		rows := e.verify()
		e.stop(p)

		// Checkpoints carry the GTID set of everything applied, for moving to
		// another server of the topology.
		var want string
		if err := e.up.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&want); err != nil {
			t.Fatal(err)
		}
		cps, err := e.checkpoints()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"orders_copy", "customer_totals", "big_orders", "customers_by_country"} {
			if got := cps[f].gtid; got != want {
				t.Errorf("flow %s checkpoint GTID set = %q, want the upstream's %q", f, got, want)
			}
		}

		// A restart with nothing new must change nothing (no re-applied deltas).
		p = e.start()
		time.Sleep(500 * time.Millisecond)
		e.caughtUp(30 * time.Second)
		e.verify()
		e.stop(p)
		t.Logf("verified %d derived rows", rows)
	})
}

func TestKill9DuringLargeLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 300})
		p := e.start()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var loadErr error
		loadDone := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(loadDone)
			for i := 0; i < 800 && ctx.Err() == nil; i++ {
				n := 20
				if i%25 == 0 {
					n = 800 // some transactions larger than a batch
				}
				if err := e.writeTxn(ctx, n, 50); err != nil {
					loadErr = err
					return
				}
			}
		}()
		kills, midLoad := 0, 0
		for i := 0; i < 5; i++ {
			time.Sleep(time.Duration(300+rand.Intn(700)) * time.Millisecond)
			select {
			case <-loadDone:
			default:
				midLoad++
			}
			e.kill9(p)
			kills++
			p = e.start()
		}
		if midLoad < 3 {
			t.Errorf("only %d of %d kills happened while the load was running; make the load larger", midLoad, kills)
		}
		wg.Wait()
		cancel()
		if loadErr != nil {
			t.Fatal(loadErr)
		}
		e.caughtUp(120 * time.Second)
		rows := e.verify()
		e.kill9(p)
		t.Logf("chaos: kill -9 during a large load into %s: %d kills survived (%d mid-load); %d derived rows verified exact", store, kills, midLoad, rows)
	})
}

func TestTransactionLargerThanBatchIsNeverHalfApplied(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 50})
		p := e.start()
		e.load(1, 5, 3)
		e.caughtUp(30 * time.Second)
		var before int
		if err := e.down.QueryRow("SELECT COUNT(*) FROM " + e.tbl("orders_copy")).Scan(&before); err != nil {
			t.Fatal(err)
		}

		// One upstream transaction of 3000 inserts, 60 times max_rows.
		tx, err := e.up.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			var b strings.Builder
			b.WriteString("INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, created_at) VALUES ")
			for j := 0; j < 100; j++ {
				if j > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "(%d, 150.00, 'new', NOW(6))", j%7+1)
			}
			if _, err := tx.Exec(b.String()); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// Watch the downstream while it applies: only all or nothing is visible.
		seen := map[int]bool{}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var n int
			if err := e.down.QueryRow("SELECT COUNT(*) FROM " + e.tbl("orders_copy")).Scan(&n); err != nil {
				t.Fatal(err)
			}
			seen[n] = true
			if n != before && n != before+3000 {
				t.Fatalf("orders_copy holds %d rows: part of a 3000-row upstream transaction was applied (before: %d)", n, before)
			}
			if n == before+3000 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the large transaction was not applied within 60s")
			}
		}
		e.caughtUp(30 * time.Second)
		e.verify()
		e.stop(p)
	})
}

func TestUpdatesMoveRowsBetweenGroupsAndDeletesEmptyGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store})
		p := e.start()
		q := func(s string, args ...any) {
			e.exec(e.up, strings.ReplaceAll(s, "ORDERS", "`"+e.shop+"`.orders"), args...)
		}
		q("INSERT INTO ORDERS (id, customer_id, amount, status, created_at) VALUES (1, 1, 10.10, 'new', NOW()), (2, 1, 20.20, 'new', NOW()), (3, 2, 300.00, 'new', NOW()), (4, 3, 0.01, 'new', NOW())")
		e.caughtUp(30 * time.Second)
		e.verify()

		q("UPDATE ORDERS SET customer_id = 2 WHERE id = 1")                 // moves between groups
		q("UPDATE ORDERS SET customer_id = 4, amount = 99.99 WHERE id = 2") // moves into a new group, new amount: customer 1 is now empty
		q("UPDATE ORDERS SET amount = amount + 0.01 WHERE id = 3")          // stays, sum changes
		q("DELETE FROM ORDERS WHERE id = 4")                                // empties customer 3
		q("UPDATE ORDERS SET status = 'cancelled' WHERE id = 3")            // leaves big_orders
		e.caughtUp(30 * time.Second)
		e.verify()

		var n int
		if err := e.down.QueryRow("SELECT COUNT(*) FROM " + e.tbl("customer_totals") + " WHERE customer_id IN (1, 3)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("groups emptied by moves and deletes still have %d rows in customer_totals", n)
		}
		// The primary key itself changes: copy must delete the old id.
		q("UPDATE ORDERS SET id = 10 WHERE id = 1")
		e.caughtUp(30 * time.Second)
		e.verify()
		e.stop(p)
	})
}

func TestInvalidConfigExitsTwoNamingFileAndKey(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/bad.toml"
	writeFile(t, path, "[batch]\nmax_rows = -5\n")
	cmd := exec.Command(binary(t), "run", "-c", path)
	out, err := cmd.CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 2 {
		t.Fatalf("want exit 2, got %v\n%s", err, out)
	}
	for _, want := range []string{"bad.toml", "batch.max_rows"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message does not name %q:\n%s", want, out)
		}
	}
}

func TestMissingTableOrColumnFailsAtStart(t *testing.T) {
	cases := []struct{ name, flow, want string }{
		{"missing table", `
[[flows]]
name = "ghost"
tables = ["nosuchdb.nosuchtable"]
  [[flows.functions]]
  kind = "project"
  columns = ["id"]
  [[flows.functions]]
  kind = "sink"
  table = "ghost"
  key = ["id"]
`, "table nosuchdb.nosuchtable does not exist"},
		{"missing column", `
[[flows]]
name = "ghost_col"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "no_such_column"]
  [[flows.functions]]
  kind = "sink"
  table = "ghost"
  key = ["id"]
`, `"no_such_column"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			cfg := readFile(t, e.configPath) + strings.ReplaceAll(c.flow, "SHOP", e.shop)
			writeFile(t, e.configPath, cfg)
			out, err := e.command("run").CombinedOutput()
			if err == nil {
				t.Fatalf("binflow run started with a bad flow:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("error does not say %s:\n%s", c.want, out)
			}
		})
	}
}

func TestUpstreamNotRowFormatIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.exec(e.up, "SET GLOBAL binlog_format = 'STATEMENT'")
	t.Cleanup(func() { e.exec(e.up, "SET GLOBAL binlog_format = 'ROW'") })
	for _, sub := range []string{"check", "run"} {
		out, err := e.command(sub).CombinedOutput()
		if err == nil {
			t.Fatalf("binflow %s accepted a STATEMENT binlog:\n%s", sub, out)
		}
		if !strings.Contains(string(out), "binlog_format") || !strings.Contains(string(out), "ROW") {
			t.Errorf("binflow %s does not say which setting to change:\n%s", sub, out)
		}
	}
}

func TestPurgedBinlogStopsWithRecoveryAdvice(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.start()
	e.load(5, 5, 5)
	e.caughtUp(30 * time.Second)
	e.stop(p)
	oldFile, _ := e.upstreamPos()

	e.load(5, 5, 5)
	// MariaDB keeps a file while crash recovery or a connected replica may
	// need it, and PURGE then only warns: retry until the file is really gone.
	e.waitFor(30*time.Second, oldFile+" to be purged", func() bool {
		e.exec(e.up, "FLUSH BINARY LOGS")
		newFile, _ := e.upstreamPos()
		e.exec(e.up, "PURGE BINARY LOGS TO '"+newFile+"'")
		return !e.hasBinlog(oldFile)
	})

	start := time.Now()
	cmd := e.command("run")
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	out, err := cmd.CombinedOutput()
	timer.Stop()
	if err == nil {
		t.Fatalf("binflow ran from a purged position:\n%s", out)
	}
	took := time.Since(start)
	if took > 30*time.Second {
		t.Errorf("took %s to notice the purged binlog", took)
	}
	for _, want := range []string{oldFile, "snapshot"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not mention %q:\n%s", want, out)
		}
	}
	t.Logf("chaos: purged binlog: exited non-zero after %.1f s naming %s and the recovery (rebuild from a snapshot or reset)", took.Seconds(), oldFile)
}

func TestDownstreamDownAtStartIsWaitedFor(t *testing.T) {
	e := newEnv(t, envOptions{})
	testenv.StopServer(t, "downstream")
	stopped := true
	defer func() {
		if stopped {
			testenv.StartServer(t, "downstream")
		}
	}()
	p := &process{cmd: e.command("run"), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	defer func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}()
	time.Sleep(2 * time.Second)
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("binflow exited while the downstream was down: %v\n%s", err, p.out.String())
	default:
	}
	if !strings.Contains(p.out.String(), "downstream unreachable; retrying") {
		t.Errorf("no retry logged while the downstream was down:\n%s", p.out.String())
	}
	testenv.StartServer(t, "downstream")
	stopped = false
	e.down = testenv.Downstream(t)
	e.waitFor(30*time.Second, "initial checkpoints", func() bool {
		var n int
		_ = e.down.QueryRow("SELECT COUNT(*) FROM `" + e.derived + "`.binflow_checkpoints").Scan(&n)
		return n >= flowCount
	})
	e.load(20, 10, 10)
	e.caughtUp(60 * time.Second)
	e.verify()
}

func TestCheckpointOfAnotherUpstreamIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.start()
	e.load(3, 5, 5)
	e.caughtUp(30 * time.Second)
	e.stop(p)

	// The same address now answers as another server.
	var id int
	if err := e.up.QueryRow("SELECT @@GLOBAL.server_id").Scan(&id); err != nil {
		t.Fatal(err)
	}
	e.exec(e.up, "SET GLOBAL server_id = 77")
	t.Cleanup(func() { e.exec(e.up, fmt.Sprintf("SET GLOBAL server_id = %d", id)) })
	cmd := e.command("run")
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	out, err := cmd.CombinedOutput()
	timer.Stop()
	if err == nil {
		t.Fatalf("binflow resumed checkpoints of server_id %d on server_id 77:\n%s", id, out)
	}
	for _, want := range []string{fmt.Sprintf("server_id %d", id), "server_id 77", "refusing", `server_change = \"gtid\"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}

	// Told to move by GTID, binflow resumes after each flow's GTID set: what
	// was written meanwhile (under the new server_id) is applied once.
	e.load(10, 5, 5)
	cfg := readFile(t, e.configPath)
	writeFile(t, e.configPath, strings.Replace(cfg, "[upstream]\n", "[upstream]\nserver_change = \"gtid\"\n", 1))
	p = e.start()
	e.load(10, 5, 5)
	e.caughtUp(30 * time.Second)
	e.verify()
	if !strings.Contains(p.out.String(), "resuming after its GTID set") {
		t.Errorf("no GTID move logged:\n%s", tail(p.out.String(), 3000))
	}
	var serverID int
	if err := e.down.QueryRow("SELECT MIN(server_id) FROM `" + e.derived + "`.binflow_checkpoints").Scan(&serverID); err != nil {
		t.Fatal(err)
	}
	if serverID != 77 {
		t.Errorf("checkpoints still name server_id %d after the move, want 77", serverID)
	}
	e.stop(p)
	t.Logf("chaos: wrong upstream: checkpoints of server_id %d refused on server_id 77; with server_change = \"gtid\" resumed by GTID, derived tables exact", id)
}

func TestDerivedTableWithAnotherUniqueKeyIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.exec(e.down, "ALTER TABLE `"+e.derived+"`.big_orders ADD UNIQUE KEY by_customer (customer_id)")
	out, err := e.command("run").CombinedOutput()
	if err == nil {
		t.Fatalf("binflow ran with an unsafe derived table:\n%s", out)
	}
	for _, want := range []string{"flow big_orders", "unique key by_customer (customer_id)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not say %q:\n%s", want, out)
		}
	}
}
