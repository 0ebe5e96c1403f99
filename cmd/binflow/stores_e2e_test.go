package main

// The three sample flows (copy, aggregate, Go function) into PostgreSQL and
// into SQLite through the real binary, with kill -9 in the middle of a
// load; each derived table is then compared with its SQL recomputation on
// the upstream MariaDB. The MySQL downstream has its own tests (e2e_test.go,
// chaos_test.go) through the shared harness.

import (
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// storeCase is one downstream store: its [downstream] section and a pool
// on it for the test's queries, and how it writes a time as text.
type storeCase struct {
	name  string
	setup func(t *testing.T) (section string, db *sql.DB)
	// timeText is SQL turning the column created_at into
	// 'YYYY-MM-DD HH:MM:SS.ffffff'.
	timeText string
}

var storeCases = []storeCase{
	{
		name: "postgres",
		setup: func(t *testing.T) (string, *sql.DB) {
			admin := testenv.Postgres(t)
			name := testenv.FreshPostgresDatabase(t, admin, "derived")
			db, err := sql.Open("pgx", testenv.PostgresDSN(name))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			host, port := testenv.PostgresAddr()
			return fmt.Sprintf("driver = \"postgres\"\nhost = %q\nport = %d\nuser = %q\npassword_env = \"BINFLOW_TEST_DOWNSTREAM_PASSWORD\"\ndatabase = %q\n",
				host, port, testenv.User, name), db
		},
		timeText: `to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US')`,
	},
	{
		name: "sqlite",
		setup: func(t *testing.T) (string, *sql.DB) {
			path := filepath.Join(t.TempDir(), "derived.db")
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			// No driver key: a [downstream] without a server is SQLite.
			return fmt.Sprintf("path = %q\n", path), db
		},
		timeText: `created_at`,
	},
}

// storeEnv reuses the harness's workload (env.writeTxn, startLoad, kill9,
// stop) with a downstream of another driver.
type storeEnv struct {
	*env
	sc    storeCase
	store *sql.DB
}

const storeFlows = 3

func newStoreEnv(t *testing.T, sc storeCase) *storeEnv {
	e := &env{t: t, up: testenv.Upstream(t), rng: rand.New(rand.NewSource(time.Now().UnixNano()))}
	e.shop = testenv.FreshDatabase(t, e.up, "shop")
	e.exec(e.up, fmt.Sprintf(ordersDDL, e.shop))
	e.exec(e.up, fmt.Sprintf(customersDDL, e.shop))
	section, db := sc.setup(t)
	upHost, upPort := testenv.UpstreamAddr()
	cfg := fmt.Sprintf(`
[upstream]
host = %q
port = %d
user = %q
password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"
server_id = %d
start = "current"

[downstream]
%smigrations = %q

[batch]
max_rows = 200
max_delay = "50ms"
retry_max = "1s"

[log]
level = "debug"
format = "json"

[[flows]]
name = "orders_copy"
tables = ["%[7]s.orders"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "status", "created_at"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_copy"
  key = ["id"]

[[flows]]
name = "customer_totals"
tables = ["%[7]s.orders"]
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
tables = ["%[7]s.orders"]
  [[flows.functions]]
  kind = "go"
  name = "big_orders"
  [[flows.functions]]
  kind = "sink"
  table = "big_orders"
  key = ["id"]
`, upHost, upPort, testenv.User, 3000+rand.Intn(1000), section, filepath.Join(repoRoot(t), "migrations"), e.shop)
	e.configPath = filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(e.configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := e.command("migrate").CombinedOutput(); err != nil {
		t.Fatalf("binflow migrate: %v\n%s", err, out)
	}
	if out, err := e.command("migrate").CombinedOutput(); err != nil {
		t.Fatalf("binflow migrate again: %v\n%s", err, out)
	}
	return &storeEnv{env: e, sc: sc, store: db}
}

// checkpoints returns the stored checkpoints (file, position) by flow.
func (s *storeEnv) checkpoints() map[string][2]any {
	rows, err := s.store.Query(`SELECT flow, binlog_file, binlog_pos FROM binflow_checkpoints`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[string][2]any{}
	for rows.Next() {
		var flow, file string
		var pos int64
		if rows.Scan(&flow, &file, &pos) == nil {
			out[flow] = [2]any{file, pos}
		}
	}
	return out
}

func (s *storeEnv) start() *process {
	s.t.Helper()
	p := &process{cmd: s.command("run"), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	s.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if s.t.Failed() {
			s.t.Logf("binflow output:\n%s", tail(p.out.String(), 6000))
		}
	})
	s.waitFor(30*time.Second, "binflow to start", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			s.t.Fatalf("binflow exited at start: %v\n%s", err, tail(p.out.String(), 4000))
		default:
		}
		return len(s.checkpoints()) >= storeFlows
	})
	return p
}

func (s *storeEnv) caughtUp(timeout time.Duration) {
	s.t.Helper()
	file, pos := s.upstreamPos()
	s.waitFor(timeout, fmt.Sprintf("checkpoints to reach %s:%d", file, pos), func() bool {
		cps := s.checkpoints()
		if len(cps) < storeFlows {
			return false
		}
		for _, cp := range cps {
			f, p := cp[0].(string), uint64(cp[1].(int64))
			if f < file || (f == file && p < pos) {
				return false
			}
		}
		return true
	})
}

// verify compares the three derived tables with their SQL recomputation
// on the upstream, and returns the rows compared.
func (s *storeEnv) verify() int {
	s.t.Helper()
	checks := []struct{ name, derived, oracle string }{
		{"orders_copy",
			"SELECT id, customer_id, amount, status, " + s.sc.timeText + " FROM orders_copy",
			"SELECT id, customer_id, amount, status, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') FROM `" + s.shop + "`.orders"},
		{"customer_totals",
			"SELECT customer_id, order_count, total_amount FROM customer_totals",
			"SELECT customer_id, COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)) FROM `" + s.shop + "`.orders GROUP BY customer_id"},
		{"big_orders",
			"SELECT id, customer_id, amount, amount_band FROM big_orders",
			"SELECT id, customer_id, amount, CASE WHEN amount >= 500 THEN '500+' ELSE '100-499' END FROM `" + s.shop + "`.orders WHERE amount >= 100 AND status <> 'cancelled'"},
	}
	total := 0
	for _, c := range checks {
		got, want := s.snapshot(s.store, c.derived), s.snapshot(s.up, c.oracle)
		if diff := diffRows(got, want); diff != "" {
			s.t.Errorf("%s in %s differs from its SQL recomputation on the upstream (%d derived rows, %d expected):\n%s",
				c.name, s.sc.name, len(got), len(want), diff)
		}
		if len(want) == 0 {
			s.t.Errorf("%s: the workload left no rows; the comparison proves nothing", c.name)
		}
		total += len(want)
	}
	return total
}

// TestSampleFlowsIntoEachStore: the three sample flows into PostgreSQL and
// SQLite, killed with SIGKILL twice during a load, equal their SQL
// recomputation; a clean restart with nothing new changes nothing.
func TestSampleFlowsIntoEachStore(t *testing.T) {
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			s := newStoreEnv(t, sc)
			p := s.start()
			load := s.startLoad(15, 30, 5*time.Millisecond)
			for range 2 {
				time.Sleep(time.Duration(600+rand.Intn(600)) * time.Millisecond)
				s.kill9(p)
				p = s.start()
			}
			time.Sleep(500 * time.Millisecond)
			txns := load.stop(t)
			s.caughtUp(60 * time.Second)
			rows := s.verify()
			s.stop(p)

			// Restart with nothing new: no delta applied twice.
			p = s.start()
			time.Sleep(300 * time.Millisecond)
			s.caughtUp(30 * time.Second)
			s.verify()
			s.stop(p)
			t.Logf("%s: 2 kills survived, %d upstream transactions, %d derived rows verified", sc.name, txns, rows)
		})
	}
}
