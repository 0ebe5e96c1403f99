package mysql_test

import (
	"context"
	"database/sql"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/storetest"
	mysqlconn "github.com/binflow/binflow/connectors/mysql"
	"github.com/binflow/binflow/testenv"
	"github.com/shopspring/decimal"
)

// testStore is a store on a fresh downstream database.
type testStore struct {
	*mysqlconn.Store
	t        *testing.T
	database string
}

// openStore opens a store on a fresh database of the test downstream
// server, migrated unless bare is set.
func openStore(t *testing.T, bare bool) *testStore {
	t.Helper()
	s, name := openFresh(t)
	ts := &testStore{Store: s, t: t, database: name}
	if !bare {
		if _, err := s.Migrate(context.Background(), storetest.MigrationsDir); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

// openFresh opens a store on a fresh database of the test downstream
// server, closed when the test ends.
func openFresh(t testing.TB) (*mysqlconn.Store, string) {
	t.Helper()
	name := testenv.FreshDatabase(t, testenv.Downstream(t), "conn")
	s, err := mysqlconn.Open(context.Background(), downstreamOptions(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, name
}

func downstreamOptions(t testing.TB, database string) mysqlconn.Options {
	t.Helper()
	host, port := testenv.DownstreamAddr()
	return mysqlconn.Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password, Database: database}
}

func (s *testStore) exec(query string, args ...any) {
	s.t.Helper()
	if _, err := s.DB().Exec(query, args...); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

func (s *testStore) apply(b *connectors.Batch) {
	s.t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		s.t.Fatal(err)
	}
}

// dump returns every row of a table as storetest.Dump does.
func (s *testStore) dump(table string) []string {
	s.t.Helper()
	return storetest.Dump(s.t, s.DB().DB, quote(table))
}

func quote(name string) string {
	q, err := mysqlconn.QuoteIdent(name)
	if err != nil {
		panic(err) // the tests quote no empty or NUL names
	}
	return q
}

func checkpoint(flow string, pos uint32) connectors.Checkpoint {
	return storetest.Checkpoint(flow, pos)
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// suiteStore is a store as storetest sees it: its pool a *sql.DB, and the
// database it writes to.
type suiteStore struct {
	*mysqlconn.Store
	database string
}

func (s suiteStore) DB() *sql.DB { return s.Store.DB().DB }

var harness = storetest.Harness{
	Open: func(t *testing.T) storetest.Store {
		s, name := openFresh(t)
		return suiteStore{Store: s, database: name}
	},
	MigrationsSubdir: "mysql",
	TimeText:         func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	TooLong:          strings.Repeat("x", 21),
	QuoteIdent:       quote,
	Schema:           func(s storetest.Store) string { return s.(suiteStore).database },
	ErrNotMigrated:   mysqlconn.ErrNotMigrated,
	// CREATE TABLE commits: a failed migration keeps the tables its
	// earlier statements created.
	NonTransactionalDDL: true,
	FailedBatchErrors: map[string][]string{
		"third statement: upsert into a missing table":   {"1146"},
		"delta into a missing column after other deltas": {"1054"},
		"value too long": {"1406"},
	},
	// About 30 MB of values: several times the statement budget (a quarter
	// of max_allowed_packet, at most 4 MiB).
	LargeBatchRows: 50_000,
	DDL: map[string]string{
		"vals": `CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT NULL, u BIGINT UNSIGNED NULL, d DECIMAL(65,30) NULL,
			s VARCHAR(100) NULL, b VARBINARY(100) NULL, ts DATETIME(6) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		"daily": `CREATE TABLE daily (day DATE, shop VARCHAR(20), n BIGINT NOT NULL, PRIMARY KEY (day, shop))`,
		"wide": `CREATE TABLE wide (id BIGINT PRIMARY KEY, k BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
			pad VARCHAR(1000) NOT NULL, at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		"history": `CREATE TABLE history (seq BIGINT PRIMARY KEY, what TEXT NOT NULL) DEFAULT CHARSET=utf8mb4`,
		"state":   `CREATE TABLE state (g BIGINT, v DECIMAL(12,2), n BIGINT NOT NULL, PRIMARY KEY (g, v))`,
		"stats": `CREATE TABLE stats (g BIGINT PRIMARY KEY, cnt BIGINT NOT NULL, total DECIMAL(30,2) NOT NULL,
			lo DECIMAL(12,2) NULL, hi DECIMAL(12,2) NULL, distinct_v BIGINT NULL, mean DECIMAL(20,4) NULL)`,
		"hostile": `CREATE TABLE %[1]s (%[2]s BIGINT PRIMARY KEY, %[3]s VARCHAR(50) NULL, %[4]s BIGINT NOT NULL DEFAULT 0) DEFAULT CHARSET=utf8mb4`,
	},
}

func TestStore(t *testing.T) { storetest.Run(t, harness) }

// TestMigratedTablesAreInnoDBUtf8mb4: the shipped migrations create
// transactional tables that hold any text.
func TestMigratedTablesAreInnoDBUtf8mb4(t *testing.T) {
	s := openStore(t, false)
	for _, table := range []string{"binflow_checkpoints", "orders_copy", "customer_totals", "big_orders", "binflow_snapshots"} {
		var engine, collation string
		err := s.DB().QueryRow("SELECT engine, table_collation FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
			s.database, table).Scan(&engine, &collation)
		if err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
		if engine != "InnoDB" || !strings.HasPrefix(collation, "utf8mb4") {
			t.Errorf("table %s: engine %s collation %s, want InnoDB utf8mb4", table, engine, collation)
		}
	}
}

func TestOpenWrongPassword(t *testing.T) {
	const password = "not-the-Password-42"
	o := downstreamOptions(t, "mysql")
	o.Password = password
	s, err := mysqlconn.Open(context.Background(), o)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("error contains the password: %s", msg)
	}
	for _, w := range []string{testenv.HostPort(testenv.DownstreamName), strconv.Quote(o.User), "1045"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

// TestOutageDownstreamStoppedMidBatch stops the downstream server while a
// batch is in flight (blocked on a row lock after its first statement ran),
// checks that the error is retryable and that nothing of the batch
// persisted, then restarts the server and applies the same batch.
func TestOutageDownstreamStoppedMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the shared downstream server")
	}
	s := openStore(t, false)
	ctx := context.Background()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	columns := []string{"id", "customer_id", "amount", "status", "created_at"}
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: columns,
			Rows: [][]any{{int64(1), int64(1), dec("1.00"), "new", created}, {int64(2), int64(1), dec("2.00"), "new", created}}}},
		Checkpoint: checkpoint("outage", 100),
	})

	// Hold a lock on row 2 so that the batch stops inside its transaction.
	holder, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT * FROM orders_copy WHERE id = 2 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	batch := &connectors.Batch{
		Deletes: []connectors.Delete{{Table: "orders_copy", Key: []string{"id"}, Keys: [][]any{{int64(1)}}}},
		Upserts: []connectors.Upsert{{Table: "orders_copy", Key: []string{"id"}, Columns: columns,
			Rows: [][]any{{int64(2), int64(1), dec("2.50"), "paid", created}}}},
		Checkpoint: checkpoint("outage", 200),
	}
	applied := make(chan error, 1)
	go func() { applied <- s.Apply(ctx, batch) }()
	waitForLockWait(t, s)

	stopped := time.Now()
	testenv.StopServer(t, testenv.DownstreamName) // restarts it at the end should the test fail
	var applyErr error
	select {
	case applyErr = <-applied:
	case <-time.After(20 * time.Second):
		t.Fatal("Apply did not return after the server stopped")
	}
	t.Logf("Apply returned %v after the server stopped (%s)", applyErr, time.Since(stopped))
	if applyErr == nil {
		t.Fatal("Apply succeeded while the server stopped")
	}
	if !s.Retryable(applyErr) {
		t.Errorf("Retryable(%v) = false", applyErr)
	}
	// While the server is down, a retry fails retryably too.
	if err := s.Apply(ctx, batch); err == nil || !s.Retryable(err) {
		t.Errorf("Apply with the server down: %v (retryable %v)", err, s.Retryable(err))
	}

	testenv.StartServer(t, testenv.DownstreamName)
	want := []string{`"1","1","1.00","new","2025-01-01T00:00:00Z"`, `"2","1","2.00","new","2025-01-01T00:00:00Z"`}
	if got := s.dump("orders_copy"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the outage orders_copy = %q, want the state before the batch %q", got, want)
	}
	if err := s.Apply(ctx, batch); err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	want = []string{`"2","1","2.50","paid","2025-01-01T00:00:00Z"`}
	if got := s.dump("orders_copy"); !reflect.DeepEqual(got, want) {
		t.Fatalf("orders_copy = %q, want %q", got, want)
	}
	if cp, _, err := s.LoadCheckpoint(ctx, "outage"); err != nil || cp.Pos != batch.Checkpoint.Pos {
		t.Fatalf("checkpoint = %v, %v; want %v", cp.Pos, err, batch.Checkpoint.Pos)
	}
}

// waitForLockWait waits until a transaction of this database waits for a
// row lock.
func waitForLockWait(t *testing.T, s *testStore) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := s.DB().QueryRow("SELECT COUNT(*) FROM information_schema.innodb_trx t"+
			" JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id"+
			" WHERE p.db = ? AND t.trx_state = 'LOCK WAIT'", s.database).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		// InnoDB refreshes innodb_trx only when it was not read for 100 ms.
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatal("the batch never waited for the row lock")
}

func BenchmarkApplyUpsert(b *testing.B) {
	s, _ := openFresh(b)
	storetest.BenchmarkUpsert(b, suiteStore{Store: s})
}

func BenchmarkApplyDelta(b *testing.B) {
	s, _ := openFresh(b)
	storetest.BenchmarkDelta(b, suiteStore{Store: s})
}
