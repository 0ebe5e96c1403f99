package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// snapshotTargetRowsPerMinute is the target for the aggregate flow.
const snapshotTargetRowsPerMinute = 5_000_000

// BenchmarkSnapshot measures binflow's initial snapshot of one table of
// BINFLOW_BENCH_SNAPSHOT_ROWS orders (default 5,000,000) into an aggregate
// flow and into a copy flow (the real binary, upstream.start = "snapshot"),
// beside the baseline of a full scan of the same table on the upstream
// (SELECT COUNT(*), SUM(amount)). Like BenchmarkEndToEnd it runs once
// whatever b.N is.
func BenchmarkSnapshot(b *testing.B) {
	nRows, err := envInt("BINFLOW_BENCH_SNAPSHOT_ROWS", 5_000_000)
	if err != nil {
		b.Fatal(err)
	}
	if nRows <= 0 {
		b.Fatal("BINFLOW_BENCH_SNAPSHOT_ROWS must be at least 1")
	}
	up := testenv.Upstream(b)
	down := testenv.Downstream(b)
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin, err := buildBinflow(root, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv(passwordEnv, testenv.Password)
	ctx := context.Background()

	shop := testenv.FreshDatabase(b, up, "bench_snap")
	mustExec(b, up, fmt.Sprintf(ordersDDL, "`"+shop+"`"))
	logf("snapshot benchmark: loading %d orders into %s (server-side, not binlogged)", nRows, shop)
	loadStart := time.Now()
	if err := loadOrdersFast(ctx, up, shop, nRows); err != nil {
		b.Fatal(err)
	}
	logf("loaded in %s", time.Since(loadStart).Round(time.Second))
	mustExec(b, up, "ANALYZE TABLE `"+shop+"`.orders") // a fresh TABLE_ROWS estimate

	// The baseline: one full scan of the table on the upstream.
	scanStart := time.Now()
	var n int64
	var sum sql.NullString
	if err := up.QueryRowContext(ctx, "SELECT COUNT(*), SUM(amount) FROM `"+shop+"`.orders").Scan(&n, &sum); err != nil {
		b.Fatal(err)
	}
	scan := time.Since(scanStart)
	if n != int64(nRows) {
		b.Fatalf("the table has %d rows, want %d", n, nRows)
	}

	r := snapshotReport{rows: nRows, scan: scan}
	// The aggregate and the copy with MariaDB's default method (one
	// consistent view), then the aggregate with the windows method (what
	// a MySQL upstream uses).
	for _, run := range []struct {
		fk     flowKind
		method string
	}{{aggregateFlow, "view"}, {copyFlow, "view"}, {aggregateFlow, "windows"}} {
		took, rss, err := runSnapshot(ctx, b, bin, root, dir, down, shop, run.fk, run.method)
		if err != nil {
			b.Fatal(err)
		}
		r.took = append(r.took, took)
		r.rss = append(r.rss, rss)
	}
	b.ReportMetric(float64(nRows)/r.took[0].Seconds(), "aggregate_rows/s")
	b.ReportMetric(float64(nRows)/r.took[1].Seconds(), "copy_rows/s")
	b.ReportMetric(float64(nRows)/r.took[2].Seconds(), "aggregate_windows_rows/s")
	fmt.Print(r.String())
}

// loadOrdersFast fills the table server-side from a sequence (MariaDB's
// Sequence engine), with binary logging off for the session: the snapshot
// reads the table, not the binlog.
func loadOrdersFast(ctx context.Context, db *sql.DB, database string, n int) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		return fmt.Errorf("SET sql_log_bin = 0: %w", err)
	}
	defer conn.ExecContext(ctx, "SET SESSION sql_log_bin = 1") //nolint:errcheck // the connection is closed next
	const step = 500_000
	for from := 1; from <= n; from += step {
		to := min(from+step-1, n)
		q := fmt.Sprintf("INSERT INTO `%s`.orders (id, customer_id, amount, status, note, created_at) "+
			"SELECT seq, seq %% %d + 1, (seq * 7919 %% 70000) / 100, ELT(seq %% 4 + 1, 'new', 'paid', 'shipped', 'cancelled'), NULL, "+
			"TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND FROM `%s`.seq_%d_to_%d", database, customers, database, from, to)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("load orders %d..%d: %w", from, to, err)
		}
	}
	return nil
}

// runSnapshot runs binflow with one flow over the table from a snapshot,
// timed from start until the flow's checkpoint exists (the snapshot done),
// and checks the derived table.
func runSnapshot(ctx context.Context, b *testing.B, bin, root, dir string, down *sql.DB, shop string, fk flowKind, method string) (time.Duration, uint64, error) {
	b.Helper()
	derived := testenv.FreshDatabase(b, down, "bench_snap_"+string(fk))
	cfgPath := filepath.Join(dir, derived+".toml")
	cfg := binflowConfig(fk, shop, mysqlSink(down, derived).keys, filepath.Join(root, "migrations"), position{}, 0)
	cfg = strings.Replace(cfg, `start = ":0"`, `start = "snapshot"`, 1)
	cfg += "\n[snapshot]\nmethod = \"" + method + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return 0, 0, err
	}
	if out, err := exec.Command(bin, "migrate", "-c", cfgPath).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("binflow migrate -c %s: %v\n%s", cfgPath, err, out)
	}
	logPath := filepath.Join(dir, derived+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	done := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	var rss uint64
	deadline := time.Now().Add(phaseTimeout)
	for {
		select {
		case err := <-done:
			done <- err
			return 0, 0, fmt.Errorf("binflow exited during the snapshot: %v\n%s", err, tailFile(logPath, 3000))
		default:
		}
		if r, err := peakRSS(cmd.Process.Pid); err == nil {
			rss = max(rss, r)
		}
		_, ok, err := checkpointOf(ctx, down, derived, string(fk))
		if err != nil && !isMissingTable(err) {
			return 0, 0, err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, errors.New("timed out waiting for the snapshot")
		}
		time.Sleep(pollEvery)
	}
	took := time.Since(start)
	_ = cmd.Process.Signal(os.Interrupt)
	<-done
	done <- nil
	if err := verifySink(ctx, testenv.Upstream(b), shop, mysqlSink(down, derived), fk); err != nil {
		return 0, 0, fmt.Errorf("%s after the snapshot: %w", fk, err)
	}
	logf("%s: snapshot done in %s, peak RSS %.0f MB", fk, took.Round(10*time.Millisecond), mb(rss))
	return took, rss, nil
}

type snapshotReport struct {
	rows int
	scan time.Duration
	took []time.Duration // aggregate, copy (view method), aggregate (windows method)
	rss  []uint64
}

func (r snapshotReport) String() string {
	var s strings.Builder
	rate := func(d time.Duration) float64 { return float64(r.rows) / d.Seconds() }
	fmt.Fprintf(&s, "\nsnapshot of %d rows (binflow start to checkpoint, the real binary):\n", r.rows)
	fmt.Fprintf(&s, "  %-34s %10s %14s %12s\n", "", "time", "rows/s", "vs scan")
	fmt.Fprintf(&s, "  %-34s %10s %14.0f %12s\n", "baseline: SELECT COUNT(*), SUM(amount)", r.scan.Round(10*time.Millisecond), rate(r.scan), "1.00x")
	for i, name := range []string{"aggregate (customer_totals)", "copy (orders_copy)", "aggregate, windows method"} {
		fmt.Fprintf(&s, "  %-34s %10s %14.0f %11.2fx   peak RSS %.0f MB\n", name, r.took[i].Round(10*time.Millisecond), rate(r.took[i]),
			r.took[i].Seconds()/r.scan.Seconds(), mb(r.rss[i]))
	}
	perMinute := rate(r.took[0]) * 60
	verdict := "MET"
	if perMinute < snapshotTargetRowsPerMinute {
		verdict = "NOT MET"
	}
	fmt.Fprintf(&s, "  target: aggregate >= %d rows/minute; measured %.0f rows/minute: %s\n", snapshotTargetRowsPerMinute, perMinute, verdict)
	return s.String()
}
