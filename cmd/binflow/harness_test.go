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
	"strconv"
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
// database (in one of the stores) with migrated derived tables, a config
// file.
type env struct {
	t        *testing.T
	up, down *sql.DB
	shop     string // upstream database
	// derived is the downstream database (MySQL, PostgreSQL) or file
	// (SQLite); prefix names its tables in queries on down ("`derived`."
	// on MySQL, whose pool is the server's; "" elsewhere).
	derived, prefix string
	store           string  // storeMySQL, storePostgres or storeSQLite
	downstreamKeys  section // [downstream] of the config
	configPath      string
	rng             *rand.Rand
	nextID          int64
	nextCustomer    int64
}

type envOptions struct {
	store     string // "" is storeMySQL
	maxRows   int
	extraFlow string // appended to the config
}

// The downstream stores a test can run against.
const (
	storeMySQL    = "mysql"
	storePostgres = "postgres"
	storeSQLite   = "sqlite"
)

// allStores are the stores the exactly-once tests run against.
var allStores = []string{storeMySQL, storePostgres, storeSQLite}

// forEachStore runs test once per downstream store, as subtests.
func forEachStore(t *testing.T, test func(t *testing.T, store string)) {
	for _, s := range allStores {
		t.Run(s, func(t *testing.T) { test(t, s) })
	}
}

// downstream is the test's empty derived database in a store: the keys of
// [downstream] that reach it (password from
// BINFLOW_TEST_DOWNSTREAM_PASSWORD), a pool for the test's queries, its
// name and how the pool's queries prefix its tables.
func downstream(t *testing.T, store string) (keys section, db *sql.DB, name, prefix string) {
	t.Helper()
	switch store {
	case storeMySQL:
		db = testenv.Downstream(t)
		name = testenv.FreshDatabase(t, db, "derived")
		host, port := testenv.DownstreamAddr()
		keys = section{}.with("host", host).with("port", port).with("user", testenv.User).
			with("password_env", "BINFLOW_TEST_DOWNSTREAM_PASSWORD").with("database", name)
		return keys, db, name, "`" + name + "`."
	case storePostgres:
		name = testenv.FreshPostgresDatabase(t, testenv.Postgres(t), "derived")
		db, err := sql.Open("pgx", testenv.PostgresDSN(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		host, port := testenv.PostgresAddr()
		keys = section{}.with("driver", "postgres").with("host", host).with("port", port).with("user", testenv.User).
			with("password_env", "BINFLOW_TEST_DOWNSTREAM_PASSWORD").with("database", name)
		return keys, db, name, ""
	case storeSQLite:
		name = filepath.Join(t.TempDir(), "derived.db")
		db, err := sql.Open("sqlite", name+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		// No driver key: a [downstream] without a server is SQLite.
		return section{}.with("path", name), db, name, ""
	}
	t.Fatalf("unknown store %q", store)
	return nil, nil, "", ""
}

// section is the "key = value" lines of one table of a config file.
type section []string

// with adds key = v: strings as TOML strings, other values as Go prints
// them.
func (s section) with(key string, v any) section {
	if str, ok := v.(string); ok {
		return append(s, fmt.Sprintf("%s = %q", key, str))
	}
	return append(s, fmt.Sprintf("%s = %v", key, v))
}

// withTLS adds the tls keys set in keys, in a fixed order.
func (s section) withTLS(keys map[string]string) section {
	for _, k := range []string{"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name"} {
		if v, ok := keys[k]; ok {
			s = s.with(k, v)
		}
	}
	return s
}

// upstreamKeys are the keys of [upstream] for testenv's upstream server.
func upstreamKeys(user, passwordEnv string, serverID int) section {
	host, port := testenv.UpstreamAddr()
	return section{}.with("host", host).with("port", port).with("user", user).
		with("password_env", passwordEnv).with("server_id", serverID)
}

// testConfig is a binflow config file; every end-to-end test writes its
// config with it. flows are [[flows]] tables (SHOP. stands for the
// upstream database: see replaceShop); extra is appended verbatim.
type testConfig struct {
	upstream, downstream, batch section
	debugLog                    bool // [log] at debug level, as JSON
	flows                       []string
	extra                       string
}

func (c testConfig) String() string {
	var b strings.Builder
	table := func(name string, s section) {
		if len(s) > 0 {
			fmt.Fprintf(&b, "\n[%s]\n%s\n", name, strings.Join(s, "\n"))
		}
	}
	table("upstream", c.upstream)
	table("downstream", c.downstream)
	table("batch", c.batch)
	if c.debugLog {
		table("log", section{}.with("level", "debug").with("format", "json"))
	}
	for _, f := range c.flows {
		b.WriteString(f)
	}
	b.WriteString(c.extra)
	return b.String()
}

// write writes the config to a file of the test's temporary folder, with
// shop for SHOP., and returns its path.
func (c testConfig) write(t *testing.T, shop string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, path, replaceShop(c.String(), shop))
	return path
}

// The standard flows, over SHOP.orders and SHOP.customers.
const (
	ordersCopyFlow = `
[[flows]]
name = "orders_copy"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "status", "created_at"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_copy"
  key = ["id"]
`
	customerTotalsFlow = `
[[flows]]
name = "customer_totals"
tables = ["SHOP.orders"]
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
`
	bigOrdersFlow = `
[[flows]]
name = "big_orders"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "go"
  name = "big_orders"
  [[flows.functions]]
  kind = "sink"
  table = "big_orders"
  key = ["id"]
`
	customersByCountryFlow = `
[[flows]]
name = "customers_by_country"
tables = ["SHOP.customers"]
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["country"]
  aggregates = [{ column = "customers", func = "count" }]
  [[flows.functions]]
  kind = "sink"
  table = "customers_by_country"
`
)

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
	if o.store == "" {
		o.store = storeMySQL
	}
	e := &env{t: t, up: testenv.Upstream(t), store: o.store, rng: rand.New(rand.NewSource(time.Now().UnixNano()))}
	e.shop = testenv.FreshDatabase(t, e.up, "shop")
	e.exec(e.up, fmt.Sprintf(ordersDDL, e.shop))
	e.exec(e.up, fmt.Sprintf(customersDDL, e.shop))
	var keys section
	keys, e.down, e.derived, e.prefix = downstream(t, o.store)
	e.downstreamKeys = keys.with("migrations", filepath.Join(repoRoot(t), "migrations"))
	e.configPath = testConfig{
		upstream:   upstreamKeys(testenv.User, "BINFLOW_TEST_UPSTREAM_PASSWORD", 2000+rand.Intn(1000)),
		downstream: e.downstreamKeys,
		batch:      section{}.with("max_rows", o.maxRows).with("max_delay", "50ms").with("retry_max", "1s"),
		debugLog:   true,
		flows:      []string{ordersCopyFlow, customerTotalsFlow, bigOrdersFlow, customersByCountryFlow},
		extra:      o.extraFlow,
	}.write(t, e.shop)
	if out, err := e.command("migrate").CombinedOutput(); err != nil {
		t.Fatalf("binflow migrate: %v\n%s", err, out)
	}
	e.createTables(storeDDL{
		mysql:    "CREATE TABLE D.customers_by_country (country CHAR(2) PRIMARY KEY, customers BIGINT NOT NULL)",
		postgres: "CREATE TABLE customers_by_country (country CHAR(2) PRIMARY KEY, customers BIGINT NOT NULL)",
		sqlite:   "CREATE TABLE customers_by_country (country TEXT PRIMARY KEY, customers INTEGER NOT NULL) STRICT",
	})
	return e
}

// storeDDL is a statement in each store's dialect; D. stands for the
// derived database in MySQL's.
type storeDDL struct{ mysql, postgres, sqlite string }

// createTables runs each statement's version for the test's store.
func (e *env) createTables(ddl ...storeDDL) {
	e.t.Helper()
	for _, d := range ddl {
		q := map[string]string{storeMySQL: d.mysql, storePostgres: d.postgres, storeSQLite: d.sqlite}[e.store]
		e.exec(e.down, strings.ReplaceAll(q, "D.", e.prefix))
	}
}

// tbl names a derived table in queries on e.down.
func (e *env) tbl(name string) string { return e.prefix + name }

// quote quotes a column name (a plain one) in the store's SQL.
func (e *env) quote(name string) string {
	if e.store == storeMySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// timeText is SQL of the store turning a time column into
// 'YYYY-MM-DD HH:MM:SS.ffffff' (the upstream's DATE_FORMAT(col, timeFormat)).
func (e *env) timeText(col string) string {
	switch e.store {
	case storePostgres:
		return "to_char(" + col + ", 'YYYY-MM-DD HH24:MI:SS.US')"
	case storeSQLite:
		return col // stored as that text
	}
	return "DATE_FORMAT(" + col + ", '" + timeFormat + "')"
}

// timeFormat is MySQL's DATE_FORMAT of timeText.
const timeFormat = "%Y-%m-%d %H:%i:%s.%f"

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
	// Ready once every flow has its checkpoint (new flows write one at start).
	return e.launch("binflow", e.command("run"), func() bool {
		cps, _ := e.checkpoints()
		return len(cps) >= flowCount
	})
}

// launch starts cmd as a process of the test (killed when the test ends,
// its output logged if the test failed) and waits until ready, failing if
// it exits first.
func (e *env) launch(what string, cmd *exec.Cmd, ready func() bool) *process {
	e.t.Helper()
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
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
			e.t.Logf("%s output:\n%s", what, tail(p.out.String(), 6000))
		}
	})
	e.waitFor(20*time.Second, what+" to start", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			e.t.Fatalf("%s exited at start: %v\n%s", what, err, tail(p.out.String(), 6000))
		default:
		}
		return ready()
	})
	return p
}

// storedCheckpoint is a flow's row of binflow_checkpoints.
type storedCheckpoint struct {
	file     string
	pos      uint64
	gtid     string
	serverID int64
}

// atLeast reports whether the checkpoint reached file:pos.
func (c storedCheckpoint) atLeast(file string, pos uint64) bool {
	return c.file > file || (c.file == file && c.pos >= pos)
}

// checkpoints reads the stored checkpoints by flow.
func (e *env) checkpoints() (map[string]storedCheckpoint, error) {
	rows, err := e.down.Query("SELECT flow, binlog_file, binlog_pos, gtid, server_id FROM " + e.tbl("binflow_checkpoints"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]storedCheckpoint{}
	for rows.Next() {
		var flow string
		var c storedCheckpoint
		if err := rows.Scan(&flow, &c.file, &c.pos, &c.gtid, &c.serverID); err != nil {
			return nil, err
		}
		out[flow] = c
	}
	return out, rows.Err()
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
	e.waitFor(timeout, fmt.Sprintf("checkpoints to reach %s:%d", file, pos), func() bool { return e.allReached(file, pos, flows) })
}

// allReached reports whether there are flows checkpoints, each at file:pos
// (or before it with only housekeeping events between).
func (e *env) allReached(file string, pos uint64, flows int) bool {
	cps, err := e.checkpoints()
	if err != nil {
		return false
	}
	n := 0
	for _, c := range cps {
		if !e.reached(c, file, pos) {
			return false
		}
		n++
	}
	return n == flows
}

// stopFailed sends SIGTERM to a binflow one of whose flows failed: it must
// exit 1, naming the flow.
func (e *env) stopFailed(p *process, flow string) {
	e.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err == nil || !strings.Contains(tail(p.out.String(), 3000), "binflow run: flow "+flow+": ") {
			e.t.Errorf("binflow exited with %v after flow %s failed; want exit 1 naming the flow", err, flow)
		}
	case <-time.After(20 * time.Second):
		e.t.Fatal("binflow did not stop within 20s of SIGTERM")
	}
}

// reached reports whether a checkpoint is at file:pos, or before it with
// only events outside transactions in between: after a rotation MariaDB
// writes a Binlog_checkpoint event to the new file when it likes, and no
// checkpoint moves past an event that belongs to no transaction.
func (e *env) reached(c storedCheckpoint, file string, pos uint64) bool {
	if c.atLeast(file, pos) {
		return true
	}
	from := c.pos
	for f := c.file; f <= file; f = nextBinlog(f) {
		rows, err := e.up.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT 20", f, from))
		if err != nil {
			return false
		}
		ok := onlyHousekeeping(rows, f == file, pos)
		rows.Close()
		if !ok {
			return false
		}
		from = 4
	}
	return true
}

// onlyHousekeeping reads SHOW BINLOG EVENTS rows: true when every event (up
// to pos in the last file) is a file's housekeeping, not a transaction's.
func onlyHousekeeping(rows *sql.Rows, last bool, pos uint64) bool {
	cols, err := rows.Columns()
	if err != nil {
		return false
	}
	n := 0
	for rows.Next() {
		var (
			name, kind string
			at         uint64
		)
		// Log_name, Pos, Event_type, Server_id, End_log_pos, Info
		dest := []any{&name, &at, &kind}
		for len(dest) < len(cols) {
			dest = append(dest, new(sql.RawBytes))
		}
		if err := rows.Scan(dest...); err != nil {
			return false
		}
		if last && at >= pos {
			return true
		}
		switch kind {
		case "Rotate", "Format_desc", "Gtid_list", "Binlog_checkpoint", "Stop":
		default:
			return false
		}
		n++
	}
	return rows.Err() == nil && n < 20 // 20 events: more to read; judge later
}

// nextBinlog is the binlog file after f ("mysql-bin.000014" ->
// "mysql-bin.000015").
func nextBinlog(f string) string {
	i := strings.LastIndexByte(f, '.')
	n, err := strconv.Atoi(f[i+1:])
	if i < 0 || err != nil {
		return f + "~" // sorts after f: ends the walk
	}
	return fmt.Sprintf("%s.%0*d", f[:i], len(f)-i-1, n+1)
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
			"SELECT id, customer_id, amount, status, " + e.timeText("created_at") + " FROM " + e.tbl("orders_copy"),
			"SELECT id, customer_id, amount, status, DATE_FORMAT(created_at, '" + timeFormat + "') FROM `" + e.shop + "`.orders"},
		{"customer_totals",
			"SELECT customer_id, order_count, total_amount FROM " + e.tbl("customer_totals"),
			"SELECT customer_id, COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)) FROM `" + e.shop + "`.orders GROUP BY customer_id"},
		{"big_orders",
			"SELECT id, customer_id, amount, amount_band FROM " + e.tbl("big_orders"),
			"SELECT id, customer_id, amount, CASE WHEN amount >= 500 THEN '500+' ELSE '100-499' END FROM `" + e.shop + "`.orders WHERE amount >= 100 AND status <> 'cancelled'"},
		{"customers_by_country",
			"SELECT country, customers FROM " + e.tbl("customers_by_country"),
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
			e.t.Errorf("%s in %s differs from its SQL recomputation on the upstream (%d derived rows, %d expected):\n%s", c.name, e.store, len(got), len(want), diff)
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
		cps, err := e.checkpoints()
		if err != nil {
			return false
		}
		for _, f := range flows {
			if c, ok := cps[f]; !ok || !e.reached(c, file, pos) {
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
