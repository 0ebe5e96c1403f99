package main

// The end-to-end harness: a real binflow binary against the testenv
// servers, each test in its own upstream and downstream databases, and the
// oracle that recomputes every derived table as SQL on the upstream.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/binflow once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "binflow-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "binflow")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is one test's world: upstream database with shop tables, downstream
// database with migrated derived tables, a config file.
type env struct {
	t            *testing.T
	up, down     *sql.DB
	shop         string // upstream database
	derived      string // downstream database
	configPath   string
	rng          *rand.Rand
	nextID       int64
	nextCustomer int64
}

type envOptions struct {
	maxRows   int
	extraFlow string // appended to the config
}

// customersDDL is a second source table with its own flow, so that the
// workload spans several tables.
const customersDDL = `CREATE TABLE %s.customers (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  country CHAR(2) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// flowCount is the number of flows of the test config.
const flowCount = 4

const ordersDDL = `CREATE TABLE %s.orders (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  status VARCHAR(20) NOT NULL,
  note TEXT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.maxRows == 0 {
		o.maxRows = 500
	}
	e := &env{t: t, up: testenv.Upstream(t), down: testenv.Downstream(t), rng: rand.New(rand.NewSource(time.Now().UnixNano()))}
	e.shop = testenv.FreshDatabase(t, e.up, "shop")
	e.derived = testenv.FreshDatabase(t, e.down, "derived")
	e.exec(e.up, fmt.Sprintf(ordersDDL, e.shop))
	e.exec(e.up, fmt.Sprintf(customersDDL, e.shop))

	upHost, upPort := testenv.UpstreamAddr()
	downHost, downPort := testenv.DownstreamAddr()
	repo := repoRoot(t)
	cfg := fmt.Sprintf(`
[upstream]
host = %q
port = %d
user = %q
password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"
server_id = %d

[downstream]
host = %q
port = %d
user = %q
password_env = "BINFLOW_TEST_DOWNSTREAM_PASSWORD"
database = %q
migrations = %q

[batch]
max_rows = %d
max_delay = "50ms"
retry_max = "1s"

[log]
level = "debug"
format = "json"

[[flows]]
name = "orders_copy"
tables = ["%[11]s.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "status", "created_at"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_copy"
  key = ["id"]

[[flows]]
name = "customer_totals"
tables = ["%[11]s.orders"]
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["customer_id"]
  aggregates = [
    { column = "order_count", func = "count" },
    { column = "total_amount", func = "sum", of = "amount" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "customer_totals"

[[flows]]
name = "big_orders"
tables = ["%[11]s.orders"]
  [[flows.functions]]
  kind = "go"
  name = "big_orders"
  [[flows.functions]]
  kind = "sink"
  table = "big_orders"
  key = ["id"]

[[flows]]
name = "customers_by_country"
tables = ["%[11]s.customers"]
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["country"]
  aggregates = [{ column = "customers", func = "count" }]
  [[flows.functions]]
  kind = "sink"
  table = "customers_by_country"
%[12]s`, upHost, upPort, testenv.User, 2000+rand.Intn(1000), downHost, downPort, testenv.User, e.derived,
		filepath.Join(repo, "migrations"), o.maxRows, e.shop, o.extraFlow)
	e.configPath = filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(e.configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := e.command("migrate").CombinedOutput(); err != nil {
		t.Fatalf("binflow migrate: %v\n%s", err, out)
	}
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.customers_by_country (country CHAR(2) PRIMARY KEY, customers BIGINT NOT NULL)")
	return e
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary(e.t), append(args, "-c", e.configPath)...)
	cmd.Env = append(os.Environ(), "BINFLOW_TEST_UPSTREAM_PASSWORD="+testenv.Password, "BINFLOW_TEST_DOWNSTREAM_PASSWORD="+testenv.Password)
	return cmd
}

func (e *env) exec(db *sql.DB, q string, args ...any) {
	e.t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// process is a running binflow.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (e *env) start() *process {
	e.t.Helper()
	p := &process{cmd: e.command("run"), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	e.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			e.t.Logf("binflow output:\n%s", tail(p.out.String(), 6000))
		}
	})
	// Ready once every flow has its checkpoint (new flows write one at start).
	e.waitFor(20*time.Second, "binflow to start", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			e.t.Fatalf("binflow exited at start: %v\n%s", err, p.out.String())
		default:
		}
		var n int
		_ = e.down.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.binflow_checkpoints", e.derived)).Scan(&n)
		return n >= flowCount
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM and expects a clean exit.
func (e *env) stop(p *process) {
	e.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			e.t.Fatalf("binflow did not exit cleanly on SIGTERM: %v\n%s", err, tail(p.out.String(), 4000))
		}
	case <-time.After(20 * time.Second):
		e.t.Fatalf("binflow did not stop within 20s of SIGTERM")
	}
}

// kill9 kills the process for real: no chance to flush or clean up.
func (e *env) kill9(p *process) {
	e.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (e *env) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upstreamPos is the upstream's current binlog end.
func (e *env) upstreamPos() (string, uint64) {
	rows, err := e.up.Query("SHOW MASTER STATUS")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		e.t.Fatal("SHOW MASTER STATUS: no rows")
	}
	var file string
	var pos uint64
	dest := []any{&file, &pos}
	for len(dest) < len(cols) {
		dest = append(dest, new(sql.RawBytes))
	}
	if err := rows.Scan(dest...); err != nil {
		e.t.Fatal(err)
	}
	return file, pos
}

// hasBinlog reports whether the upstream still has a binlog file.
func (e *env) hasBinlog(file string) bool {
	rows, err := e.up.Query("SHOW BINARY LOGS")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		var name string
		dest := []any{&name}
		for len(dest) < len(cols) {
			dest = append(dest, new(sql.RawBytes))
		}
		if err := rows.Scan(dest...); err != nil {
			e.t.Fatal(err)
		}
		if name == file {
			return true
		}
	}
	return false
}

// caughtUp waits until every flow's checkpoint reaches the upstream's
// current position.
func (e *env) caughtUp(timeout time.Duration) {
	e.t.Helper()
	e.caughtUpN(timeout, e.configuredFlows())
}

// caughtUpN waits until n flows (those with checkpoints; a test whose flow
// fails on purpose says how many others must catch up) reach the upstream's
// current position.
func (e *env) caughtUpN(timeout time.Duration, flows int) {
	e.t.Helper()
	file, pos := e.upstreamPos()
	e.waitFor(timeout, fmt.Sprintf("checkpoints to reach %s:%d", file, pos), func() bool {
		rows, err := e.down.Query(fmt.Sprintf("SELECT binlog_file, binlog_pos FROM `%s`.binflow_checkpoints", e.derived))
		if err != nil {
			return false
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var f string
			var p uint64
			if err := rows.Scan(&f, &p); err != nil {
				return false
			}
			if f < file || (f == file && p < pos) {
				return false
			}
			n++
		}
		return n == flows
	})
}

// configuredFlows is the number of flows in the test's config file: every
// one must have reached the position, including extra flows a test added.
func (e *env) configuredFlows() int {
	return strings.Count(readFile(e.t, e.configPath), "\n[[flows]]")
}

// The oracle: each derived table's content as sorted text rows, and the
// same computation as SQL on the upstream.
func (e *env) snapshot(db *sql.DB, q string) []string {
	e.t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out
}

// oracleCheck is one derived table of the standard flows and the SQL that
// recomputes it on the upstream.
type oracleCheck struct{ name, derived, oracle string }

func (e *env) oracleChecks() []oracleCheck {
	return []oracleCheck{
		{"orders_copy",
			"SELECT id, customer_id, amount, status, created_at FROM `" + e.derived + "`.orders_copy",
			"SELECT id, customer_id, amount, status, created_at FROM `" + e.shop + "`.orders"},
		{"customer_totals",
			"SELECT customer_id, order_count, total_amount FROM `" + e.derived + "`.customer_totals",
			"SELECT customer_id, COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)) FROM `" + e.shop + "`.orders GROUP BY customer_id"},
		{"big_orders",
			"SELECT id, customer_id, amount, amount_band FROM `" + e.derived + "`.big_orders",
			"SELECT id, customer_id, amount, CASE WHEN amount >= 500 THEN '500+' ELSE '100-499' END FROM `" + e.shop + "`.orders WHERE amount >= 100 AND status <> 'cancelled'"},
		{"customers_by_country",
			"SELECT country, customers FROM `" + e.derived + "`.customers_by_country",
			"SELECT country, COUNT(*) FROM `" + e.shop + "`.customers GROUP BY country"},
	}
}

// verify compares every derived table with its SQL recomputation and
// returns the number of rows compared.
func (e *env) verify() int {
	e.t.Helper()
	return e.verifyFlows()
}

// verifyFlows is verify for the derived tables of the named standard flows
// only (all of them when none is named).
func (e *env) verifyFlows(names ...string) int {
	e.t.Helper()
	total := 0
	for _, c := range e.oracleChecks() {
		if len(names) > 0 && !slices.Contains(names, c.name) {
			continue
		}
		got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
		if diff := diffRows(got, want); diff != "" {
			e.t.Errorf("%s differs from its SQL recomputation on the upstream (%d derived rows, %d expected):\n%s", c.name, len(got), len(want), diff)
		}
		total += len(want)
	}
	return total
}

// caughtUpFlows is caughtUp for the named flows only: the others may have
// stopped.
func (e *env) caughtUpFlows(timeout time.Duration, flows ...string) {
	e.t.Helper()
	file, pos := e.upstreamPos()
	e.waitFor(timeout, fmt.Sprintf("checkpoints of %v to reach %s:%d", flows, file, pos), func() bool {
		for _, f := range flows {
			var cf string
			var cp uint64
			err := e.down.QueryRow("SELECT binlog_file, binlog_pos FROM `"+e.derived+"`.binflow_checkpoints WHERE flow = ?", f).Scan(&cf, &cp)
			if err != nil || cf < file || (cf == file && cp < pos) {
				return false
			}
		}
		return true
	})
}

func diffRows(got, want []string) string {
	g, w := map[string]int{}, map[string]int{}
	for _, r := range got {
		g[r]++
	}
	for _, r := range want {
		w[r]++
	}
	var b strings.Builder
	n := 0
	for r, c := range w {
		if g[r] < c && n < 20 {
			fmt.Fprintf(&b, "  missing: %s\n", r)
			n++
		}
	}
	for r, c := range g {
		if w[r] < c && n < 40 {
			fmt.Fprintf(&b, "  extra:   %s\n", r)
			n++
		}
	}
	return b.String()
}

// Workload: random transactions of inserts, updates (some moving rows
// between customers, some crossing the big-order threshold) and deletes.

var (
	statuses  = []string{"new", "paid", "shipped", "cancelled"}
	countries = []string{"FR", "DE", "JP", "BR", "US"}
)

func (e *env) randomAmount() string {
	return fmt.Sprintf("%d.%02d", e.rng.Intn(700), e.rng.Intn(100))
}

// writeTxn runs one upstream transaction of n random statements.
func (e *env) writeTxn(ctx context.Context, n, customers int) error {
	tx, err := e.up.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := 0; i < n; i++ {
		var q string
		var args []any
		switch r := e.rng.Intn(12); {
		case r == 10:
			q = "INSERT INTO `" + e.shop + "`.customers (name, country) VALUES (?, ?)"
			args = []any{fmt.Sprintf("c%d", e.rng.Intn(1000)), countries[e.rng.Intn(len(countries))]}
			e.nextCustomer++
		case r == 11 && e.nextCustomer > 0:
			// Moves a customer between countries (groups), or deletes one.
			if e.rng.Intn(3) == 0 {
				q = "DELETE FROM `" + e.shop + "`.customers WHERE id = ?"
				args = []any{e.rng.Int63n(e.nextCustomer) + 1}
			} else {
				q = "UPDATE `" + e.shop + "`.customers SET country = ? WHERE id = ?"
				args = []any{countries[e.rng.Intn(len(countries))], e.rng.Int63n(e.nextCustomer) + 1}
			}
		case r < 6 || r >= 10 || e.nextID < 10:
			q = "INSERT INTO `" + e.shop + "`.orders (customer_id, amount, status, note, created_at) VALUES (?, ?, ?, ?, ?)"
			args = []any{e.rng.Intn(customers) + 1, e.randomAmount(), statuses[e.rng.Intn(len(statuses))], "n\u00e9 🎉", time.Now().UTC().Truncate(time.Microsecond)}
			e.nextID++
		case r < 9:
			q = "UPDATE `" + e.shop + "`.orders SET customer_id = ?, amount = ?, status = ? WHERE id = ?"
			args = []any{e.rng.Intn(customers) + 1, e.randomAmount(), statuses[e.rng.Intn(len(statuses))], e.rng.Int63n(e.nextID+1) + 1}
		default:
			q = "DELETE FROM `" + e.shop + "`.orders WHERE id = ?"
			args = []any{e.rng.Int63n(e.nextID+1) + 1}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return tx.Commit()
}

func (e *env) load(txns, perTxn, customers int) {
	e.t.Helper()
	for i := 0; i < txns; i++ {
		if err := e.writeTxn(context.Background(), perTxn, customers); err != nil {
			e.t.Fatal(err)
		}
	}
}
