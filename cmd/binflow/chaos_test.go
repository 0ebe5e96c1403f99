package main

// Fault injection against the real servers (issue: crash safety). Every
// scenario ends by comparing each derived table with its SQL recomputation.
// `make test` runs them at a modest size; `make chaos` raises the counts
// through the environment (BINFLOW_CHAOS_KILLS, BINFLOW_CHAOS_OUTAGE).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binflow/binflow/status"
	"github.com/binflow/binflow/testenv"
)

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// backgroundLoad writes random transactions until stopped and reports how
// many it committed.
type backgroundLoad struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	txns   int
	err    error
}

func (e *env) startLoad(perTxn, customers int, pause time.Duration) *backgroundLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &backgroundLoad{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			n := perTxn
			if e.rng.Intn(20) == 0 {
				n = perTxn * 20 // now and then a transaction larger than a batch
			}
			err := e.writeTxn(ctx, n, customers)
			if err != nil && ctx.Err() == nil && !transientUpstreamError(err) {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				return
			}
			if err == nil {
				l.mu.Lock()
				l.txns++
				l.mu.Unlock()
			}
			time.Sleep(pause)
		}
	}()
	return l
}

// transientUpstreamError is what the workload sees while the upstream
// restarts; such a transaction is rolled back and simply not counted.
func transientUpstreamError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "invalid connection") ||
		strings.Contains(s, "bad connection") || strings.Contains(s, "broken pipe") || strings.Contains(s, "EOF") ||
		strings.Contains(s, "shutdown in progress")
}

func (l *backgroundLoad) stop(t *testing.T) int {
	t.Helper()
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.txns
}

// TestChaosKillLoop kills a loaded binflow with SIGKILL over and over, into
// each store, and compares every derived table with its SQL recomputation.
func TestChaosKillLoop(t *testing.T) {
	kills := envInt(t, "BINFLOW_CHAOS_KILLS", 20)
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 200})
		p := e.start()
		load := e.startLoad(20, 40, 5*time.Millisecond)
		for i := 0; i < kills; i++ {
			time.Sleep(time.Duration(100+rand.Intn(600)) * time.Millisecond)
			e.kill9(p)
			p = e.start()
		}
		txns := load.stop(t)
		e.caughtUp(120 * time.Second)
		rows := e.verify()
		e.stop(p)
		t.Logf("chaos: kill -9 loop into %s: %d kills survived, %d upstream transactions, %d derived rows verified", store, kills, txns, rows)
	})
}

func TestChaosDownstreamOutage(t *testing.T) {
	outage := time.Duration(envInt(t, "BINFLOW_CHAOS_OUTAGE", 30)) * time.Second
	e := newEnv(t, envOptions{})
	p := e.start()
	load := e.startLoad(10, 30, 20*time.Millisecond)
	time.Sleep(time.Second)
	e.caughtUp(30 * time.Second)

	testenv.StopServer(t, "downstream")
	time.Sleep(outage)
	if p.cmd.ProcessState != nil {
		t.Fatalf("binflow exited during the outage:\n%s", tail(p.out.String(), 3000))
	}
	testenv.StartServer(t, "downstream")
	e.down = testenv.Downstream(t)
	txns := load.stop(t)
	e.caughtUp(120 * time.Second)
	rows := e.verify()
	if n := strings.Count(p.out.String(), "retrying"); n == 0 {
		t.Errorf("no retries logged during a %s outage", outage)
	}
	e.stop(p)
	t.Logf("chaos: downstream outage of %s survived; %d transactions, %d derived rows verified", outage, txns, rows)
}

func TestChaosUpstreamRestart(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.start()
	load := e.startLoad(10, 30, 10*time.Millisecond)
	time.Sleep(time.Second)
	testenv.StopServer(t, "upstream")
	time.Sleep(2 * time.Second)
	testenv.StartServer(t, "upstream")
	e.up = testenv.Upstream(t)
	time.Sleep(2 * time.Second)
	txns := load.stop(t)
	e.caughtUp(120 * time.Second)
	rows := e.verify()
	if p.cmd.ProcessState != nil {
		t.Fatalf("binflow exited when the upstream restarted:\n%s", tail(p.out.String(), 3000))
	}
	if !strings.Contains(p.out.String(), "reconnecting") {
		t.Errorf("no reconnect logged after the upstream restart")
	}
	e.stop(p)
	t.Logf("chaos: upstream restart survived; %d transactions, %d derived rows verified", txns, rows)
}

func TestChaosLockWaitTimeoutsAreRetried(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.exec(e.down, "SET GLOBAL innodb_lock_wait_timeout = 1")
	t.Cleanup(func() { e.exec(e.down, "SET GLOBAL innodb_lock_wait_timeout = 50") })
	p := e.start()
	e.load(5, 10, 5)
	e.caughtUp(30 * time.Second)

	// Hold every customer_totals row locked for 4 s while the load goes on.
	tx, err := e.down.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT * FROM `" + e.derived + "`.customer_totals FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	e.load(20, 10, 5)
	time.Sleep(4 * time.Second)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(60 * time.Second)
	rows := e.verify()
	timeouts := strings.Count(p.out.String(), "Lock wait timeout")
	if timeouts == 0 {
		t.Errorf("no lock wait timeout was met and retried; binflow output:\n%s", tail(p.out.String(), 2000))
	}
	e.stop(p)
	t.Logf("chaos: lock wait timeouts: %d met and retried while rows were held locked 4 s; %d derived rows verified", timeouts, rows)
}

// A downstream that stalls (orders_copy locked) under a 200,000-row
// backlog: memory stays bounded, the reader waits on the full queue
// (backpressure) and says so, the stalled flow's lag rises in /status, and
// once unlocked everything catches up to a lag of 0.
func TestChaosStalledDownstreamKeepsMemoryBounded(t *testing.T) {
	o := newObservedEnv(t, time.Minute, "")
	p := o.startServing()
	// Stall every write to orders_copy: binflow blocks in its commit, its
	// queues fill, and backpressure must stop the binlog reader.
	conn, err := o.down.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES `"+o.derived+"`.orders_copy WRITE"); err != nil {
		t.Fatal(err)
	}
	o.loadBulk(2000, 100)
	var stalled status.Flow
	var reader status.Reader
	o.waitFor(20*time.Second, "the reader to wait on a full queue and orders_copy to lag", func() bool {
		r := o.report()
		stalled = flowIn(r, "orders_copy")
		if r.Reader != nil {
			reader = *r.Reader
		}
		return reader.BlockedOn != "" && stalled.LagSeconds > 0 && stalled.LagBytes > 0 && !stalled.CaughtUp
	})
	if v := metricValue(t, o.metricLines(), "binflow_reader_blocked"); v != 1 {
		t.Errorf("binflow_reader_blocked = %v while the reader waits for flow %s", v, reader.BlockedOn)
	}
	time.Sleep(2 * time.Second)
	later := flowIn(o.report(), "orders_copy")
	if later.LagSeconds < stalled.LagSeconds+1 || later.LagBytes < stalled.LagBytes {
		t.Errorf("orders_copy's lag went from %.2fs (%d bytes) to %.2fs (%d bytes) in 2s of stall: it must rise",
			stalled.LagSeconds, stalled.LagBytes, later.LagSeconds, later.LagBytes)
	}
	rss := peakRSS(t, p)
	if _, err := conn.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	o.caughtUp(180 * time.Second)
	o.waitForCaughtUp(30 * time.Second)
	r := o.report()
	if f := flowIn(r, "orders_copy"); f.LagSeconds != 0 || f.LagBytes != 0 {
		t.Errorf("orders_copy caught up with a lag of %.2fs, %d bytes; want 0", f.LagSeconds, f.LagBytes)
	}
	if r.Reader == nil || r.Reader.BlockedOn != "" {
		t.Errorf("the reader still reports backpressure after catching up: %+v", r.Reader)
	}
	rows := o.verify()
	const bound = 300 << 20
	if rss > bound {
		t.Errorf("peak RSS %d MB while stalled, want at most %d MB", rss>>20, bound>>20)
	}
	o.stop(p)
	t.Logf("chaos: stalled downstream: peak RSS %d MB during a 200,000-row backlog; reader blocked on %s; orders_copy lag %.1fs (%d bytes) while stalled, 0 after; %d derived rows verified",
		rss>>20, reader.BlockedOn, later.LagSeconds, later.LagBytes, rows)
}

// loadBulk writes txns transactions of n inserted orders each, fast.
func (e *env) loadBulk(txns, n int) {
	e.t.Helper()
	for i := 0; i < txns; i++ {
		var b strings.Builder
		b.WriteString("INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, created_at) VALUES ")
		for j := 0; j < n; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d, %d.%02d, 'new', NOW(6))", e.rng.Intn(100)+1, e.rng.Intn(900), e.rng.Intn(100))
		}
		e.exec(e.up, b.String())
	}
}

// peakRSS reads the process's high-water resident set size.
func peakRSS(t *testing.T, p *process) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// A deadlock downstream in which InnoDB rolls back binflow's batch (error
// 1213) is retried: the flow goes on, nothing lost, nothing applied twice.
//
// The test's transaction T is the heavier one (it inserts thousands of
// rows into a scratch table), so InnoDB picks binflow's batch as the
// victim. T locks the customer_totals row of the highest customer; an
// upstream transaction with an order for every customer, the highest last,
// makes binflow's batch lock the other rows in that order and wait on that
// one; T then updates the other rows, closing the cycle.
func TestChaosDeadlocksAreRetried(t *testing.T) {
	const customers = 30
	e := newEnv(t, envOptions{})
	p := e.start()
	e.load(5, 10, customers)
	// Every customer has its customer_totals row (the random load may have
	// emptied some), and keeps it: from here until the deadlock only orders
	// are inserted.
	e.orderPerCustomer(customers)
	e.caughtUp(30 * time.Second)
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.deadlock_scratch (id BIGINT PRIMARY KEY AUTO_INCREMENT, pad CHAR(100) NOT NULL)")

	// binflow's own flows may deadlock on their checkpoints at start: count
	// only the retries from here on.
	retried := retriedWith(p.out.String(), "customer_totals", "Deadlock found")
	// InnoDB may pick T as the victim, or binflow may not wait where
	// expected: then try again, a few times.
	var why []string
	deadlocked := false
	for attempt := 1; attempt <= 4 && !deadlocked; attempt++ {
		var reason string
		deadlocked, reason = e.provokeDeadlock(p, customers)
		if !deadlocked {
			why = append(why, fmt.Sprintf("attempt %d: %s", attempt, reason))
			e.caughtUp(30 * time.Second)
		}
	}
	if !deadlocked {
		t.Fatalf("no deadlock with binflow's batch as the victim could be provoked:\n%s", strings.Join(why, "\n"))
	}
	e.load(10, 10, customers)
	e.caughtUpRunning(p, 60*time.Second)
	rows := e.verify()
	if n := retriedWith(p.out.String(), "customer_totals", "Deadlock found"); n == retried {
		t.Errorf("binflow met a deadlock but logged no retry of it")
	}
	e.stop(p)
	t.Logf("chaos: deadlock (error 1213) retried after %d provocation(s); %d derived rows verified", len(why)+1, rows)
}

// caughtUpRunning is caughtUp, failing at once if binflow exits or a flow
// stops.
func (e *env) caughtUpRunning(p *process, timeout time.Duration) {
	e.t.Helper()
	file, pos := e.upstreamPos()
	flows := e.configuredFlows()
	e.waitFor(timeout, fmt.Sprintf("checkpoints to reach %s:%d", file, pos), func() bool {
		e.alive(p)
		if errs := flowErrors(p.out.String()); len(errs) > 0 {
			e.t.Fatalf("flows stopped: %v", errs)
		}
		return e.allReached(file, pos, flows)
	})
}

// orderPerCustomer commits one upstream transaction of an order for each
// customer from 1 to n, in that order.
func (e *env) orderPerCustomer(n int) {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, created_at) VALUES ")
	for c := 1; c <= n; c++ {
		if c > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, %s, 'new', NOW(6))", c, e.randomAmount())
	}
	e.exec(e.up, b.String())
	e.nextID += int64(n)
}

// provokeDeadlock makes binflow's customer_totals batch and a transaction of
// the test deadlock (see TestChaosDeadlocksAreRetried). It reports whether
// binflow met the deadlock, or why not.
func (e *env) provokeDeadlock(p *process, customers int) (bool, string) {
	e.t.Helper()
	ctx := context.Background()
	conn, err := e.down.Conn(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	var self int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&self); err != nil {
		e.t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback()
	var b strings.Builder
	b.WriteString("INSERT INTO `" + e.derived + "`.deadlock_scratch (pad) VALUES ")
	for i := 0; i < 5000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("('heavy')")
	}
	if _, err := tx.ExecContext(ctx, b.String()); err != nil {
		e.t.Fatal(err)
	}
	totals := "`" + e.derived + "`.customer_totals"
	var count int64
	if err := tx.QueryRowContext(ctx, "SELECT order_count FROM "+totals+" WHERE customer_id = ? FOR UPDATE", customers).Scan(&count); err != nil {
		e.t.Fatal(err)
	}
	before := deadlocksOf(p.out.String(), "customer_totals")
	e.orderPerCustomer(customers)

	// Wait until binflow's batch waits on the locked row.
	waiting := false
	for deadline := time.Now().Add(10 * time.Second); !waiting && time.Now().Before(deadline); {
		// InnoDB refreshes what INNODB_TRX shows only when it was not read
		// for 0.1 s (a read sooner sees the previous attempt's waits): read
		// it less often than that.
		time.Sleep(200 * time.Millisecond)
		var n int
		err := e.down.QueryRow("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id <> ? AND trx_query LIKE '%customer_totals%'", self).Scan(&n)
		if err != nil {
			e.t.Fatal(err)
		}
		waiting = n > 0
	}
	if !waiting {
		return false, "binflow's batch never waited on the locked customer_totals row"
	}
	// Close the cycle: the other rows are binflow's.
	uctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := tx.ExecContext(uctx, "UPDATE "+totals+" SET order_count = order_count + 1 WHERE customer_id < ?", customers); err != nil {
		if strings.Contains(err.Error(), "1213") {
			return false, "InnoDB picked the test's transaction as the victim: " + err.Error()
		}
		e.t.Fatal(err)
	}
	met := false
	for deadline := time.Now().Add(5 * time.Second); !met && time.Now().Before(deadline); {
		met = deadlocksOf(p.out.String(), "customer_totals") > before
		if !met {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := tx.Rollback(); err != nil {
		e.t.Fatal(err)
	}
	if !met {
		return false, "the update went through without binflow logging a deadlock"
	}
	return true, ""
}

// deadlocksOf counts binflow's log lines about a flow that report a
// deadlock (retried or not).
func deadlocksOf(log, flow string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		var l struct{ Flow, Error string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Flow == flow && strings.Contains(l.Error, "Deadlock found") {
			n++
		}
	}
	return n
}

// retriedWith counts binflow's log lines of a flow's failed downstream write
// that it retries, whose error contains text.
func retriedWith(log, flow, text string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		var l struct{ Flow, Error, Message string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Flow == flow &&
			strings.HasPrefix(l.Message, "downstream write failed; retrying") && strings.Contains(l.Error, text) {
			n++
		}
	}
	return n
}

// orderLogFlow appends every change of an order to order_history.
const orderLogFlow = `
[[flows]]
name = "order_log"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount"]
  [[flows.functions]]
  kind = "sink"
  table = "order_history"
  mode = "append"
`

// A row already in an append sink's table with the key binflow's next
// insert produces (error 1062) stops that flow, not retried, with an error
// naming the flow, the table, the binlog position and the duplicate; its
// checkpoint stays before the transaction and nothing of the transaction is
// written; the other flows run on. Once the row is deleted, a restart
// re-applies the transaction from the checkpoint: the history is exact.
func TestChaosDuplicateKeyStopsTheFlowWithoutLoss(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: orderLogFlow})
	e.streamOnly()
	history := "`" + e.derived + "`.order_history"
	e.exec(e.down, "CREATE TABLE "+history+` (id BIGINT NOT NULL, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
		op VARCHAR(6) NOT NULL, binlog_file VARCHAR(255) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, binlog_row INT NOT NULL,
		commit_time DATETIME(6) NULL, PRIMARY KEY (binlog_file, binlog_pos, binlog_row))`)
	p := e.start()
	e.waitCheckpoints(flowCount + 1)
	for i := 0; i < 5; i++ {
		e.insertRandomOrders(4)
	}
	e.caughtUp(30 * time.Second)
	beforeFile, beforePos := e.upstreamPos()
	var written int
	if err := e.down.QueryRow("SELECT COUNT(*) FROM " + history).Scan(&written); err != nil {
		t.Fatal(err)
	}

	// Hold order_history while the next transaction commits upstream, and
	// put in it the row with the key of that transaction's first change
	// (its end position, row 0) before binflow may write.
	ctx := context.Background()
	conn, err := e.down.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+history+" WRITE"); err != nil {
		t.Fatal(err)
	}
	e.insertRandomOrders(3)
	file, pos := e.upstreamPos()
	if _, err := conn.ExecContext(ctx, "INSERT INTO "+history+" (id, customer_id, amount, op, binlog_file, binlog_pos, binlog_row, commit_time) VALUES (0, 0, 0, 'insert', ?, ?, 0, NOW(6))", file, pos); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}

	e.waitFor(30*time.Second, "flow order_log to stop", func() bool {
		e.alive(p)
		if n := retriedWith(p.out.String(), "order_log", ""); n > 0 {
			t.Fatalf("the duplicate key was retried; it cannot succeed by retrying")
		}
		_, stopped := flowErrors(p.out.String())["order_log"]
		return stopped
	})
	msg := flowErrors(p.out.String())["order_log"]
	for _, want := range []string{fmt.Sprintf("flow order_log: commit batch at %s:%d to order_history: ", file, pos), "Duplicate entry"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the flow stopped with %q, which does not say %q", msg, want)
		}
	}
	// The others go on.
	e.insertRandomOrders(5)
	e.caughtUpFlows(30*time.Second, "orders_copy", "customer_totals", "big_orders", "customers_by_country")
	e.verify()
	// The stopped flow kept its checkpoint before the transaction and wrote
	// nothing of it, nor of what followed.
	cps, err := e.checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	if c := cps["order_log"]; c.file != beforeFile || c.pos != beforePos {
		t.Errorf("order_log's checkpoint is %s:%d, want %s:%d, just before the failed transaction", c.file, c.pos, beforeFile, beforePos)
	}
	var n int
	if err := e.down.QueryRow("SELECT COUNT(*) FROM " + history).Scan(&n); err != nil || n != written+1 {
		t.Errorf("order_history holds %d rows (%v), want %d and the hand-made one", n, err, written)
	}

	e.stopFailed(p, "order_log")

	// Without the row, the flow re-applies the transaction from its
	// checkpoint, and what followed.
	e.exec(e.down, "DELETE FROM "+history+" WHERE id = 0")
	p = e.start()
	e.caughtUpRunning(p, 30*time.Second)
	rows := e.verify()
	got := e.snapshot(e.down, "SELECT id, customer_id, amount, op FROM "+history)
	want := e.snapshot(e.up, "SELECT id, customer_id, amount, 'insert' FROM `"+e.shop+"`.orders")
	if diff := diffRows(got, want); diff != "" {
		t.Errorf("order_history differs from the orders inserted upstream:\n%s", diff)
	}
	if err := e.down.QueryRow("SELECT COUNT(*) FROM "+history+" WHERE binlog_file = ? AND binlog_pos = ?", file, pos).Scan(&n); err != nil || n != 3 {
		t.Errorf("order_history holds %d rows (%v) of the transaction that failed, want its 3", n, err)
	}
	e.stop(p)
	t.Logf("chaos: duplicate key stopped its flow at %s:%d; re-applied after a restart; %d derived rows and %d history rows verified", file, pos, rows, len(got))
}

// insertRandomOrders commits one upstream transaction inserting n orders
// of random customers and amounts.
func (e *env) insertRandomOrders(n int) {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, created_at) VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, %s, '%s', NOW(6))", e.rng.Intn(20)+1, e.randomAmount(), statuses[e.rng.Intn(len(statuses))])
	}
	e.exec(e.up, b.String())
	e.nextID += int64(n)
}

// The upstream kills binflow's connections mid-stream under load, as a
// network drop or a DBA would: its binlog dump connection each time, and
// every other connection of binflow's every other time. binflow reconnects
// and resumes from where it was: nothing skipped, nothing applied twice.
func TestChaosUpstreamConnectionsDropped(t *testing.T) {
	const rounds = 4
	e := newEnv(t, envOptions{})
	p := e.start()
	load := e.startLoad(10, 30, 10*time.Millisecond)
	killedDumps := 0
	var killedOthers []int64
	for i := 0; i < rounds; i++ {
		time.Sleep(time.Duration(300+rand.Intn(700)) * time.Millisecond)
		var dumps, others []int64
		e.waitFor(15*time.Second, "binflow's binlog dump connection on the upstream", func() bool {
			e.alive(p)
			dumps, others = e.upstreamConnections(p)
			return len(dumps) > 0
		})
		kill := dumps
		if i%2 == 1 {
			kill = append(kill, others...)
			killedOthers = append(killedOthers, others...)
		}
		for _, id := range kill {
			// The connection may be gone already (binflow closed it).
			if _, err := e.up.Exec(fmt.Sprintf("KILL CONNECTION %d", id)); err != nil && !strings.Contains(err.Error(), "Unknown thread id") {
				t.Fatal(err)
			}
		}
		killedDumps += len(dumps)
		// binflow dumps the binlog again, on a new connection.
		e.waitFor(15*time.Second, "binflow to reconnect to the upstream", func() bool {
			e.alive(p)
			again, _ := e.upstreamConnections(p)
			return len(again) > 0 && !slices.Contains(dumps, again[0])
		})
	}
	txns := load.stop(t)
	e.caughtUpRunning(p, 60*time.Second)
	rows := e.verify()
	// The other connections (of binflow's upstream SQL pools, such as the
	// one polled for the binlog end) are opened again when next needed.
	if len(killedOthers) > 0 {
		e.waitFor(15*time.Second, "binflow to open new upstream connections", func() bool {
			_, others := e.upstreamConnections(p)
			return slices.ContainsFunc(others, func(id int64) bool { return !slices.Contains(killedOthers, id) })
		})
	}
	if n := strings.Count(p.out.String(), "binlog stream interrupted; reconnecting"); n < rounds {
		t.Errorf("%d reconnects logged after %d dropped binlog connections", n, rounds)
	}
	e.stop(p)
	t.Logf("chaos: upstream dropped binflow's binlog connection %d times and %d other connections; %d transactions, %d derived rows verified",
		killedDumps, len(killedOthers), txns, rows)
}

// upstreamConnections are the ids, in the upstream's processlist, of
// binflow's connections to it: those dumping the binlog, and the others.
// They are found by the client ports of the process's own sockets (the
// test connects as the same user).
func (e *env) upstreamConnections(p *process) (dumps, others []int64) {
	e.t.Helper()
	_, upPort := testenv.UpstreamAddr()
	ports := processPortsTo(e.t, p.cmd.Process.Pid, upPort)
	rows, err := e.up.Query("SELECT ID, COMMAND, HOST FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID", testenv.User)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var command, host string
		if err := rows.Scan(&id, &command, &host); err != nil {
			e.t.Fatal(err)
		}
		i := strings.LastIndexByte(host, ':')
		port, err := strconv.Atoi(host[i+1:])
		if i < 0 || err != nil || !ports[port] {
			continue
		}
		if command == "Binlog Dump" {
			dumps = append(dumps, id)
		} else {
			others = append(others, id)
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return dumps, others
}

// processPortsTo is the set of local ports of the TCP connections a
// process holds to a remote port, from /proc (Linux).
func processPortsTo(t *testing.T, pid, remotePort int) map[int]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	// "sl local_address rem_address st ... inode", addresses as HEX:HEXPORT.
	port := func(addr string) int {
		n, err := strconv.ParseUint(addr[strings.LastIndexByte(addr, ':')+1:], 16, 16)
		if err != nil {
			return -1
		}
		return int(n)
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] || port(f[2]) != remotePort {
				continue
			}
			ports[port(f[1])] = true
		}
	}
	return ports
}
