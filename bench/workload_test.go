package bench

// The workload: one orders table filled with multi-row insert transactions,
// then single-row update transactions, and the binlog positions around them.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ordersDDL is the e2e harness's orders table (cmd/binflow/harness_test.go).
const ordersDDL = `CREATE TABLE %s.orders (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  customer_id BIGINT NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  status VARCHAR(20) NOT NULL,
  note TEXT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

const (
	customers   = 5000
	rowsPerTxn  = 1000
	loadWorkers = 4 // the upstream commits in parallel; more does not help on small machines
)

var statuses = []string{"new", "paid", "shipped", "cancelled"}

// position is a binlog coordinate.
type position struct {
	File string
	Pos  uint64
}

func (p position) String() string { return p.File + ":" + strconv.FormatUint(p.Pos, 10) }

// compare orders positions; files compare by their numeric extension so
// that mysql-bin.999999 < mysql-bin.1000000.
func (p position) compare(q position) int {
	if p.File != q.File {
		a, errA := strconv.ParseUint(p.File[strings.LastIndexByte(p.File, '.')+1:], 10, 64)
		b, errB := strconv.ParseUint(q.File[strings.LastIndexByte(q.File, '.')+1:], 10, 64)
		if errA != nil || errB != nil || a == b {
			return strings.Compare(p.File, q.File)
		}
		if a < b {
			return -1
		}
		return 1
	}
	switch {
	case p.Pos < q.Pos:
		return -1
	case p.Pos > q.Pos:
		return 1
	}
	return 0
}

// masterStatus is the upstream's binlog end (the first two columns of SHOW
// MASTER STATUS; the rest vary between versions).
func masterStatus(ctx context.Context, db *sql.DB) (position, error) {
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return position{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return position{}, err
	}
	if !rows.Next() {
		return position{}, errors.New("SHOW MASTER STATUS returned no row: is the binlog on?")
	}
	var p position
	dest := []any{&p.File, &p.Pos}
	for len(dest) < len(cols) {
		dest = append(dest, new(sql.RawBytes))
	}
	if err := rows.Scan(dest...); err != nil {
		return position{}, err
	}
	return p, rows.Err()
}

func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

// progress prints load progress to stderr (go test streams it when one
// package runs); at most every 5% so the log stays short.
type progress struct {
	what  string
	total int64
	done  atomic.Int64
	step  int64
	start time.Time
	mu    sync.Mutex
	last  int64
}

func newProgress(what string, total int) *progress {
	return &progress{what: what, total: int64(total), step: max(int64(total)/20, 1), start: time.Now()}
}

func (p *progress) add(n int) {
	d := p.done.Add(int64(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	if d-p.last < p.step && d < p.total {
		return
	}
	p.last = d
	el := time.Since(p.start)
	fmt.Fprintf(os.Stderr, "bench: %s %d/%d (%.0f%%) in %s, %.0f/s\n",
		p.what, d, p.total, 100*float64(d)/float64(p.total), el.Round(100*time.Millisecond), float64(d)/el.Seconds())
}

// insertOrders writes n orders in rowsPerTxn-row multi-row INSERTs (one
// transaction each, autocommit) over loadWorkers connections.
func insertOrders(ctx context.Context, db *sql.DB, database string, n int) error {
	txns := (n + rowsPerTxn - 1) / rowsPerTxn
	next := atomic.Int64{}
	prog := newProgress("inserted rows", n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return parallel(ctx, loadWorkers, func(ctx context.Context, w int) error {
		rng := rand.New(rand.NewSource(int64(w) + 1))
		var q strings.Builder
		for {
			t := int(next.Add(1)) - 1
			if t >= txns {
				return nil
			}
			m := min(rowsPerTxn, n-t*rowsPerTxn)
			q.Reset()
			q.WriteString("INSERT INTO `" + database + "`.orders (customer_id, amount, status, note, created_at) VALUES ")
			for i := 0; i < m; i++ {
				if i > 0 {
					q.WriteByte(',')
				}
				seq := t*rowsPerTxn + i
				note := "NULL"
				if seq%3 == 0 {
					note = "'gift wrap, leave at door #" + strconv.Itoa(seq%97) + "'"
				}
				at := base.Add(time.Duration(seq)*time.Second + time.Duration(rng.Intn(1e6))*time.Microsecond)
				fmt.Fprintf(&q, "(%d,%d.%02d,'%s',%s,'%s')", rng.Intn(customers)+1, rng.Intn(1000), rng.Intn(100),
					statuses[rng.Intn(len(statuses))], note, at.Format("2006-01-02 15:04:05.000000"))
			}
			if _, err := db.ExecContext(ctx, q.String()); err != nil {
				return fmt.Errorf("insert transaction %d: %w", t, err)
			}
			prog.add(m)
		}
	})
}

// updateOrders runs n single-row UPDATE transactions on random existing
// orders: even ones move the order to another customer, odd ones raise its
// amount. Each must change exactly one row, so the binlog holds exactly n
// row changes (an UPDATE that changes nothing is not logged).
func updateOrders(ctx context.Context, db *sql.DB, database string, n int) error {
	var lo, hi int64
	if err := db.QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM `"+database+"`.orders").Scan(&lo, &hi); err != nil {
		return fmt.Errorf("order id range: %w", err)
	}
	move := "UPDATE `" + database + "`.orders SET customer_id = (customer_id + ?) % " + strconv.Itoa(customers) + " + 1 WHERE id = ?"
	raise := "UPDATE `" + database + "`.orders SET amount = amount + ?, status = ? WHERE id = ?"
	next := atomic.Int64{}
	prog := newProgress("update transactions", n)
	return parallel(ctx, loadWorkers, func(ctx context.Context, w int) error {
		rng := rand.New(rand.NewSource(int64(w) + 1000))
		for {
			i := next.Add(1) - 1
			if i >= int64(n) {
				return nil
			}
			for attempt := 0; ; attempt++ {
				id := lo + rng.Int63n(hi-lo+1)
				var res sql.Result
				var err error
				if i%2 == 0 {
					// (c + k) % C + 1 == c only for k == C-1, so k < C-1 always moves.
					res, err = db.ExecContext(ctx, move, rng.Intn(customers-1), id)
				} else {
					res, err = db.ExecContext(ctx, raise, fmt.Sprintf("%d.%02d", rng.Intn(10), 1+rng.Intn(99)), statuses[rng.Intn(len(statuses))], id)
				}
				if err != nil {
					return fmt.Errorf("update %d: %w", i, err)
				}
				if k, _ := res.RowsAffected(); k == 1 {
					break
				}
				if attempt > 100 {
					return fmt.Errorf("update %d: no existing order found in ids %d..%d", i, lo, hi)
				}
			}
			prog.add(1)
		}
	})
}

// parallel runs f on n goroutines and returns the first error, cancelling
// the others.
func parallel(ctx context.Context, n int, f func(ctx context.Context, worker int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, n)
	for w := 0; w < n; w++ {
		go func() {
			err := f(ctx, w)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for w := 0; w < n; w++ {
		// Prefer the cause over the cancellations it led to.
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	return first
}
