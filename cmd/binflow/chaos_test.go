package main

// Fault injection against the real servers (issue: crash safety). Every
// scenario ends by comparing each derived table with its SQL recomputation.
// `make test` runs them at a modest size; `make chaos` raises the counts
// through the environment (BINFLOW_CHAOS_KILLS, BINFLOW_CHAOS_OUTAGE).

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	e.verify()
	if !strings.Contains(p.out.String(), "Lock wait timeout") {
		t.Errorf("no lock wait timeout was met and retried; binflow output:\n%s", tail(p.out.String(), 2000))
	}
	e.stop(p)
}

func TestChaosStalledDownstreamKeepsMemoryBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.start()
	// Stall every write to orders_copy: binflow blocks in its commit, its
	// queues fill, and backpressure must stop the binlog reader.
	conn, err := e.down.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES `"+e.derived+"`.orders_copy WRITE"); err != nil {
		t.Fatal(err)
	}
	e.loadBulk(2000, 100)
	time.Sleep(2 * time.Second)
	rss := peakRSS(t, p)
	if _, err := conn.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(180 * time.Second)
	rows := e.verify()
	const bound = 300 << 20
	if rss > bound {
		t.Errorf("peak RSS %d MB while stalled, want at most %d MB", rss>>20, bound>>20)
	}
	e.stop(p)
	t.Logf("chaos: stalled downstream: peak RSS %d MB during a 200,000-row backlog; %d derived rows verified", rss>>20, rows)
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
