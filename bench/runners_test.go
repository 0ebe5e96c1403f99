package bench

// The four consumers of the benchmark's binlog range, each timed from its
// start until it has applied the range's end position.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gocanal "github.com/go-mysql-org/go-mysql/canal"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/binflow/binflow/testenv"
)

// phaseTimeout bounds one consumer's catch-up; a full-size run takes minutes.
const phaseTimeout = 30 * time.Minute

// pollEvery is how often progress is sampled: short against runs of seconds
// or more, long enough that polling costs the measured servers nothing.
const pollEvery = 50 * time.Millisecond

// countingHandler is go-mysql's DummyEventHandler plus a row counter, so the
// no-op run can prove it saw every row change.
type countingHandler struct {
	gocanal.DummyEventHandler
	rows atomic.Int64
}

func (h *countingHandler) OnRow(e *gocanal.RowsEvent) error {
	n := len(e.Rows)
	if e.Action == gocanal.UpdateAction {
		n /= 2 // before and after images
	}
	h.rows.Add(int64(n))
	return nil
}

func (h *countingHandler) String() string { return "bench.countingHandler" }

// runCanal reads from..to with go-mysql canal and a no-op handler: the
// ingest ceiling. It decodes like binflow does (decimals and times parsed),
// so the comparison measures binflow's own work, not a decoding option.
func runCanal(ctx context.Context, database string, from, to position) (time.Duration, int64, error) {
	cfg := gocanal.NewDefaultConfig()
	cfg.Addr = testenv.HostPort(testenv.UpstreamName)
	cfg.User, cfg.Password = testenv.User, testenv.Password
	cfg.Flavor = mysql.MariaDBFlavor
	cfg.ServerID = uint32(5000 + rand.Intn(1000))
	cfg.IncludeTableRegex = []string{"^" + regexp.QuoteMeta(database) + `\.orders$`}
	cfg.Dump.ExecutionPath = "" // no mysqldump: binlog only
	cfg.UseDecimal, cfg.ParseTime = true, true
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := gocanal.NewCanal(cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("canal: %w", err)
	}
	h := &countingHandler{}
	c.SetEventHandler(h)

	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.RunFrom(mysql.Position{Name: from.File, Pos: uint32(from.Pos)}) }()
	deadline := time.After(phaseTimeout)
	// A fine poll: SyncedPosition is an in-process read.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		p := c.SyncedPosition()
		if (position{p.Name, uint64(p.Pos)}).compare(to) >= 0 {
			break
		}
		select {
		case err := <-done:
			c.Close()
			return 0, 0, fmt.Errorf("canal stopped at %s:%d before %s: %v", p.Name, p.Pos, to, err)
		case <-deadline:
			c.Close()
			<-done
			return 0, 0, fmt.Errorf("canal: still at %s:%d after %s, wanted %s", p.Name, p.Pos, phaseTimeout, to)
		case <-ctx.Done():
			c.Close()
			<-done
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
	}
	took := time.Since(start)
	c.Close()
	<-done
	return took, h.rows.Load(), nil
}

// flowKind selects the one flow a binflow run is configured with.
type flowKind string

const (
	aggregateFlow flowKind = "customer_totals"
	copyFlow      flowKind = "orders_copy"
	// chainFlow is filter → map → aggregate (issue 4's end-to-end chain),
	// into the aggregate's table: orders not cancelled, amounts doubled.
	chainFlow flowKind = "customer_chain"
)

// passwordEnv names the variable the generated configs read passwords from.
const passwordEnv = "BINFLOW_BENCH_PASSWORD"

// binflowConfig is a config with a single flow reading database.orders from
// `from`, writing to the downstream of downstreamKeys (a sink's keys). The
// batch section is left at its defaults (those are what users run) unless
// maxRows > 0, for experiments.
func binflowConfig(kind flowKind, database, downstreamKeys, migrations string, from position, maxRows int) string {
	upHost, upPort := testenv.UpstreamAddr()
	var functions string
	switch kind {
	case aggregateFlow:
		functions = `
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["customer_id"]
  aggregates = [
    { column = "order_count", func = "count" },
    { column = "total_amount", func = "sum", of = "amount" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "customer_totals"`
	case chainFlow:
		functions = `
  [[flows.functions]]
  kind = "filter"
  expr = 'status != "cancelled"'
  [[flows.functions]]
  kind = "map"
  set = { amount = "amount * 2" }
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["customer_id"]
  aggregates = [
    { column = "order_count", func = "count" },
    { column = "total_amount", func = "sum", of = "amount" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "customer_totals"`
	case copyFlow:
		functions = `
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "status", "created_at"]
  [[flows.functions]]
  kind = "sink"
  table = "orders_copy"
  key = ["id"]`
	}
	batch := ""
	if maxRows > 0 {
		batch = fmt.Sprintf("\n[batch]\nmax_rows = %d\n", maxRows)
	}
	return fmt.Sprintf(`# generated by bench/runners_test.go
[upstream]
flavor = "mariadb"
host = %q
port = %d
user = %q
password_env = %q
server_id = %d
start = %q

[downstream]
%smigrations = %q
%s
[log]
level = "info"
format = "json"

[[flows]]
name = %q
tables = ["%s.orders"]
%s
`, upHost, upPort, testenv.User, passwordEnv, 6000+rand.Intn(1000), from.String(),
		downstreamKeys, migrations, batch, string(kind), database, functions)
}

// buildBinflow builds cmd/binflow once, outside every timed section.
func buildBinflow(root, dir string) (string, error) {
	bin := filepath.Join(dir, "binflow")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/binflow")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/binflow: %v\n%s", err, out)
	}
	return bin, nil
}

// checkpointOf reads a flow's checkpoint in a MySQL derived database; ok is
// false while it has none.
func checkpointOf(ctx context.Context, down *sql.DB, derived, flow string) (position, bool, error) {
	return mysqlSink(down, derived).checkpoint(ctx, flow)
}

// binflowResult is one run of the binary.
type binflowResult struct {
	took    time.Duration
	startup time.Duration // until its first checkpoint row: connect, checks, resume
	peakRSS uint64        // bytes (VmHWM)
}

// runBinflow starts `bin run`, times it until the flow's checkpoint in s
// reaches `to`, samples its peak RSS and stops it with SIGTERM, expecting a
// clean exit. Its output goes to logPath.
func runBinflow(ctx context.Context, bin, cfgPath, logPath string, s sink, flow flowKind, to position) (binflowResult, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return binflowResult{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	done := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return binflowResult{}, err
	}
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	fail := func(format string, args ...any) (binflowResult, error) {
		return binflowResult{}, fmt.Errorf("binflow %s into %s: %s\nlast output (%s):\n%s", flow, s.store, fmt.Sprintf(format, args...), logPath, tailFile(logPath, 4000))
	}

	deadline := time.Now().Add(phaseTimeout)
	var at position
	var startup time.Duration
	for {
		p, ok, err := s.checkpoint(ctx, string(flow))
		if err != nil {
			return fail("read checkpoint: %v", err)
		}
		if ok {
			at = p
			if startup == 0 {
				startup = time.Since(start)
			}
			if p.compare(to) >= 0 {
				break
			}
		}
		select {
		case err := <-done:
			exited = true
			return fail("exited before reaching %s (checkpoint %s): %v", to, at, err)
		case <-ctx.Done():
			return binflowResult{}, ctx.Err()
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			return fail("checkpoint at %s after %s, wanted %s", at, phaseTimeout, to)
		}
	}
	res := binflowResult{took: time.Since(start), startup: startup}
	res.peakRSS, err = peakRSS(cmd.Process.Pid)
	if err != nil {
		return fail("peak RSS: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			return fail("did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		return fail("still running 30s after SIGTERM")
	}
	return res, nil
}

// isMissingTable is true when the checkpoint table does not exist yet:
// MariaDB error 1146, PostgreSQL's undefined_table, SQLite's no such table.
func isMissingTable(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "1146") || strings.Contains(s, "42P01") || strings.Contains(s, "no such table")
}

// peakRSS is VmHWM of a live process, in bytes.
func peakRSS(pid int) (uint64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM line")
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}

// runReplica points the native replica at from (env.sh replica-from) and
// times it until it has executed up to `to`. Only the benchmark's database
// is replicated (replicate_do_db): other packages' tests write to the same
// upstream meanwhile, and their tables do not exist on the replica.
func runReplica(ctx context.Context, repl *sql.DB, envSh, database string, from, to position) (time.Duration, error) {
	if _, err := repl.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return 0, fmt.Errorf("replica: STOP SLAVE: %w", err)
	}
	// replicate_do_db can only change while the slave threads are stopped;
	// env.sh's RESET SLAVE ALL keeps it.
	if _, err := repl.ExecContext(ctx, "SET GLOBAL replicate_do_db = '"+database+"'"); err != nil {
		return 0, fmt.Errorf("replica: set replicate_do_db: %w", err)
	}
	cmd := exec.CommandContext(ctx, "bash", envSh, "replica-from", from.File, strconv.FormatUint(from.Pos, 10))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s replica-from %s: %v\n%s", envSh, from, err, out)
	}
	deadline := start.Add(phaseTimeout)
	for {
		st, err := slaveStatus(ctx, repl)
		if err != nil {
			return 0, fmt.Errorf("replica: SHOW SLAVE STATUS: %w", err)
		}
		if st["Replicate_Do_DB"] != database {
			return 0, fmt.Errorf("replica: replicate_do_db is %q, want %q (env.sh replica-from reset it?)", st["Replicate_Do_DB"], database)
		}
		pos, _ := strconv.ParseUint(st["Exec_Master_Log_Pos"], 10, 64)
		at := position{st["Relay_Master_Log_File"], pos}
		if at.compare(to) >= 0 {
			took := time.Since(start)
			if _, err := repl.ExecContext(ctx, "STOP SLAVE"); err != nil {
				return 0, fmt.Errorf("replica: STOP SLAVE: %w", err)
			}
			return took, nil
		}
		if st["Last_SQL_Errno"] != "0" && st["Last_SQL_Errno"] != "" {
			return 0, fmt.Errorf("replica: SQL thread error %s at %s: %s", st["Last_SQL_Errno"], at, st["Last_SQL_Error"])
		}
		if st["Slave_IO_Running"] == "No" && st["Last_IO_Errno"] != "0" {
			return 0, fmt.Errorf("replica: IO thread stopped with error %s: %s", st["Last_IO_Errno"], st["Last_IO_Error"])
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("replica: at %s after %s, wanted %s", at, phaseTimeout, to)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// slaveStatus is SHOW SLAVE STATUS as column name → value (columns differ
// between versions, so none is scanned by index).
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no replication configured")
	}
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	st := make(map[string]string, len(cols))
	for i, c := range cols {
		st[c] = vals[i].String
	}
	return st, rows.Err()
}
