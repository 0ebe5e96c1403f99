package canal

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/testenv"
)

func testOptions() Options {
	host, port := testenv.UpstreamAddr()
	return Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password, ServerID: 4242,
		Log: zerolog.Nop(), MaxBackoff: 500 * time.Millisecond, HeartbeatPeriod: time.Second}
}

// collector gathers the transactions of one database.
type collector struct {
	mu   sync.Mutex
	db   string
	txns []*schema.Txn
	rows int
}

func (c *collector) handle(_ context.Context, t *schema.Txn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := false
	for _, r := range t.Rows {
		if r.Table.Schema == c.db {
			keep = true
			c.rows++
		}
	}
	if keep {
		c.txns = append(c.txns, t)
	}
	return nil
}

func (c *collector) count() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.txns), c.rows
}

func startStream(t *testing.T, c *collector) (*Source, context.CancelFunc, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	src, err := NewSource(ctx, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	pos, err := src.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- src.Stream(ctx, pos, c.handle) }()
	t.Cleanup(func() {
		cancel()
		<-done
		src.Close()
	})
	return src, cancel, done
}

func waitRows(t *testing.T, c *collector, rows int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, n := c.count(); n >= rows {
			return
		}
		if time.Now().After(deadline) {
			_, n := c.count()
			t.Fatalf("got %d rows, want %d", n, rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStreamDecodesTypedRowsInTransactions(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "canal")
	mustExec(t, up, fmt.Sprintf(`CREATE TABLE %s.t (
		id BIGINT UNSIGNED PRIMARY KEY, i INT, d DECIMAL(65,30), s VARCHAR(50), txt TEXT, b VARBINARY(8),
		dt DATETIME(6), ts TIMESTAMP(3) NULL, day DATE, e ENUM('a','b'), st SET('x','y','z')) DEFAULT CHARSET=utf8mb4`, db))
	c := &collector{db: db}
	startStream(t, c)

	tx, _ := up.Begin()
	_, err := tx.Exec(fmt.Sprintf(`INSERT INTO %s.t VALUES
		(18446744073709551615, -2147483648, '12345678901234567890123456789012345.123456789012345678901234567890', 'héllo 🎉', 'text', x'00ff', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.5', '2024-02-29', 'b', 'x,z'),
		(1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`, db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(fmt.Sprintf("UPDATE %s.t SET i = 7 WHERE id = 1", db)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, up, fmt.Sprintf("DELETE FROM %s.t WHERE id = 1", db))
	waitRows(t, c, 4)

	if len(c.txns) != 2 || len(c.txns[0].Rows) != 3 || len(c.txns[1].Rows) != 1 {
		t.Fatalf("got %d transactions, want 2 (3 rows, then 1)", len(c.txns))
	}
	first := c.txns[0]
	if first.GTID == "" || first.End.IsZero() || first.CommitTime.IsZero() || first.ServerID != 1 {
		t.Errorf("transaction coordinates missing: %+v", first)
	}
	if c.txns[1].End.Compare(first.End) <= 0 {
		t.Errorf("positions do not increase: %s then %s", first.End, c.txns[1].End)
	}
	got := first.Rows[0].After
	want := []any{uint64(18446744073709551615), int64(-2147483648),
		decimal.RequireFromString("12345678901234567890123456789012345.123456789012345678901234567890"),
		"héllo 🎉", "text", []byte{0, 0xff}, time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 500000000, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "b", "x,z"}
	for i, w := range want {
		g := got[i]
		if d, ok := w.(decimal.Decimal); ok {
			if gd, ok := g.(decimal.Decimal); !ok || !gd.Equal(d) {
				t.Errorf("column %s = %#v, want %s", first.Rows[0].Table.Columns[i].Name, g, d)
			}
			continue
		}
		if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", w) {
			t.Errorf("column %s = %#v, want %#v", first.Rows[0].Table.Columns[i].Name, g, w)
		}
	}
	for i, v := range first.Rows[1].After[1:] {
		if v != nil {
			t.Errorf("NULL column %d decoded as %#v", i+1, v)
		}
	}
	upd := first.Rows[2]
	if upd.Op != schema.Update || upd.Before[1] != nil || upd.After[1] != int64(7) {
		t.Errorf("update = %v: %v -> %v", upd.Op, upd.Before, upd.After)
	}
	if del := c.txns[1].Rows[0]; del.Op != schema.Delete || del.Before[0] != uint64(1) || del.After != nil {
		t.Errorf("delete = %+v", del)
	}
}

func TestStreamReconnectsAfterDropWithoutLossOrRepeat(t *testing.T) {
	up := testenv.Upstream(t)
	db := testenv.FreshDatabase(t, up, "canal")
	mustExec(t, up, fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
	c := &collector{db: db}
	startStream(t, c)

	const total = 300
	for i := 1; i <= total; i++ {
		mustExec(t, up, fmt.Sprintf("INSERT INTO %s.t VALUES (%d)", db, i))
		if i%100 == 0 {
			// Drop binflow's binlog connection, as a network failure would.
			killDumpThreads(t, up)
		}
	}
	waitRows(t, c, total)
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[int64]bool{}
	for _, txn := range c.txns {
		for _, r := range txn.Rows {
			id := r.After[0].(int64)
			if seen[id] {
				t.Errorf("row %d delivered twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != total {
		t.Errorf("got %d distinct rows, want %d", len(seen), total)
	}
}

func TestStreamFromPurgedPositionFails(t *testing.T) {
	ctx := context.Background()
	src, err := NewSource(ctx, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = src.Stream(ctx, schema.Position{File: "mysql-bin.000000", Pos: 4}, func(context.Context, *schema.Txn) error { return nil })
	if err == nil {
		t.Fatal("streaming from a file the upstream does not have succeeded")
	}
	t.Log(err)
}

func killDumpThreads(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		_, _ = db.Exec(fmt.Sprintf("KILL %d", id))
	}
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
