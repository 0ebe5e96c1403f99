package main

// End-to-end tests of what an operator sees: /metrics, /healthz, /readyz,
// /status, `binflow status` (live and offline) and the retention warning,
// against a real binflow on the testenv.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/status"
	"github.com/binflow/binflow/testenv"
)

// observedEnv is a test env whose binflow serves HTTP on a free port.
type observedEnv struct {
	*env
	url   string
	flows []string // configured flow names
}

// shopPlaceholder stands for the env's upstream database in extra flows,
// which are written before the database is named.
const shopPlaceholder = "SHOP_DB"

// newObservedEnv builds an env whose config adds [http] and [health] (and
// extra, more [[flows]] over shopPlaceholder tables).
func newObservedEnv(t *testing.T, maxLag time.Duration, extra string) *observedEnv {
	t.Helper()
	port := freePort(t)
	e := newEnv(t, envOptions{extraFlow: fmt.Sprintf("\n[http]\nlisten = \"127.0.0.1:%d\"\n\n[health]\nmax_lag = %q\n%s", port, maxLag, extra)})
	writeFile(t, e.configPath, strings.ReplaceAll(readFile(t, e.configPath), shopPlaceholder, e.shop))
	t.Setenv("BINFLOW_TEST_UPSTREAM_PASSWORD", testenv.Password)
	t.Setenv("BINFLOW_TEST_DOWNSTREAM_PASSWORD", testenv.Password)
	cfg, err := config.Load(e.configPath)
	if err != nil {
		t.Fatal(err)
	}
	o := &observedEnv{env: e, url: "http://127.0.0.1:" + strconv.Itoa(port)}
	for _, f := range cfg.Flows {
		o.flows = append(o.flows, f.Name)
	}
	return o
}

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServing runs binflow and waits until /readyz says ready.
func (o *observedEnv) startServing() *process {
	o.t.Helper()
	p := &process{cmd: o.command("run"), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		o.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	o.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if o.t.Failed() {
			o.t.Logf("binflow output:\n%s", tail(p.out.String(), 6000))
		}
	})
	o.waitFor(30*time.Second, "binflow to be ready", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			o.t.Fatalf("binflow exited at start: %v\n%s", err, p.out.String())
		default:
		}
		code, _ := o.get("/readyz")
		return code == http.StatusOK
	})
	return p
}

// get fetches a path; code 0 when nothing answers.
func (o *observedEnv) get(path string) (int, string) {
	o.t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(o.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		o.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func (o *observedEnv) report() status.Report {
	o.t.Helper()
	code, body := o.get("/status")
	if code != http.StatusOK {
		o.t.Fatalf("GET /status: %d %s", code, body)
	}
	var r status.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		o.t.Fatalf("GET /status: %v\n%s", err, body)
	}
	return r
}

func flowIn(r status.Report, name string) status.Flow {
	for _, f := range r.Flows {
		if f.Name == name {
			return f
		}
	}
	return status.Flow{}
}

// binflowStatus runs `binflow status` and returns its output.
func (o *observedEnv) binflowStatus(args ...string) string {
	o.t.Helper()
	out, err := o.command(append([]string{"status"}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		o.t.Fatalf("binflow status %v: %v\n%s%s", args, err, out, stderr)
	}
	return string(out)
}

// metricLines are the lines of /metrics that start with one of prefixes.
func (o *observedEnv) metricLines() string {
	o.t.Helper()
	code, body := o.get("/metrics")
	if code != http.StatusOK {
		o.t.Fatalf("GET /metrics: %d", code)
	}
	return body
}

func TestEndpointsShowAStoppedFlow(t *testing.T) {
	// A flow whose derived table is dropped while binflow runs: its next
	// batch fails in a way no retry can fix, and it stops alone.
	o := newObservedEnv(t, 30*time.Second, strings.ReplaceAll(doomedFlow, "SHOP.", shopPlaceholder+"."))
	o.exec(o.down, "CREATE TABLE `"+o.derived+"`.doomed_copy (id BIGINT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL)")
	p := o.startServing()
	o.load(10, 5, 5)
	o.waitFor(30*time.Second, "every flow to catch up", func() bool {
		r := o.report()
		for _, f := range r.Flows {
			if !f.CaughtUp {
				return false
			}
		}
		return r.Ready && flowIn(r, "orders_copy").RowsOut > 0
	})

	if code, body := o.get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := o.get("/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	r := o.report()
	if len(r.Flows) != len(o.flows) || r.Phase != "running" || r.Reader == nil || r.Upstream.Position.File == "" {
		t.Errorf("/status: phase %q, %d flows (want %d), reader %+v, upstream %+v", r.Phase, len(r.Flows), len(o.flows), r.Reader, r.Upstream)
	}
	for _, name := range o.flows {
		f := flowIn(r, name)
		if f.State != "running" || !f.CaughtUp || f.LagSeconds != 0 || f.Checkpoint.Position.File == "" {
			t.Errorf("/status flow %s: %+v", name, f)
		}
	}
	if f := flowIn(r, "orders_copy"); f.RowsIn == 0 || f.RowsOut == 0 || f.Batches == 0 || f.Transactions == 0 {
		t.Errorf("orders_copy counted nothing: %+v", f)
	}
	metrics := o.metricLines()
	for _, want := range []string{
		"binflow_ready 1",
		`binflow_flow_state{flow="doomed",state="running"} 1`,
		`binflow_flow_lag_seconds{flow="orders_copy"} 0`,
		`binflow_flow_lag_bytes{flow="orders_copy"} 0`,
		`binflow_flow_batch_commit_duration_seconds_bucket{flow="orders_copy",le="+Inf"}`,
		`binflow_flow_queue_capacity_transactions{flow="big_orders"} 256`,
		"binflow_reader_bytes_total ",
		"binflow_upstream_binlog_files ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := metricValue(t, metrics, `binflow_flow_rows_out_total{flow="orders_copy"}`); n <= 0 {
		t.Errorf("binflow_flow_rows_out_total{orders_copy} = %v", n)
	}
	checkBatchLog(t, p.out.String(), "orders_copy", metrics, flowIn(r, "orders_copy"))
	live := o.binflowStatus()
	if !strings.Contains(live, "live from "+o.url) || !strings.Contains(live, "binflow: running, ready") {
		t.Errorf("binflow status while running:\n%s", live)
	}
	for _, name := range o.flows {
		if !strings.Contains(live, name) {
			t.Errorf("binflow status does not list flow %s:\n%s", name, live)
		}
	}

	o.exec(o.down, "DROP TABLE `"+o.derived+"`.doomed_copy")
	o.insertOrders(3)
	o.waitFor(30*time.Second, "/readyz to report the stopped flow", func() bool {
		code, body := o.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "flow doomed is failed")
	})
	_, body := o.get("/readyz")
	if !strings.Contains(body, "doomed_copy") {
		t.Errorf("/readyz does not say why doomed stopped:\n%s", body)
	}
	r = o.report()
	doomed := flowIn(r, "doomed")
	if r.Ready || doomed.State != "failed" || doomed.LastError == nil || doomed.LastError.Kind != "downstream" ||
		!strings.Contains(doomed.LastError.Message, "doomed_copy") || !strings.Contains(doomed.LastError.Message, "flow doomed: commit batch at ") ||
		doomed.LastError.Time.IsZero() || doomed.Errors["downstream"] != 1 {
		t.Errorf("/status of the stopped flow: ready %v, %+v, last error %+v", r.Ready, doomed, doomed.LastError)
	}
	for _, name := range []string{"orders_copy", "customer_totals", "big_orders"} {
		if f := flowIn(r, name); f.State != "running" {
			t.Errorf("flow %s is %s: the other flows must go on", name, f.State)
		}
	}
	metrics = o.metricLines()
	for _, want := range []string{
		"binflow_ready 0",
		`binflow_flow_state{flow="doomed",state="failed"} 1`,
		`binflow_flow_state{flow="doomed",state="running"} 0`,
		`binflow_flow_errors_total{flow="doomed",kind="downstream"} 1`,
		`binflow_flow_state{flow="orders_copy",state="running"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := o.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d: the process is alive", code)
	}
	live = o.binflowStatus()
	if !strings.Contains(live, "not ready") || !strings.Contains(live, "flow doomed: last error (downstream") {
		t.Errorf("binflow status does not show the failure:\n%s", live)
	}
	if !strings.Contains(p.out.String(), `"flow":"doomed"`) || !strings.Contains(p.out.String(), `"state":"failed"`) {
		t.Errorf("the stop is not logged with the flow and its state")
	}

	// Without the service, `binflow status` reads the checkpoints. The kill
	// -9 only takes the service away: nothing derived is compared after it,
	// so this is not one of the exactly-once tests that run in every store
	// (those restart binflow and compare each derived table with its SQL
	// recomputation: forEachStore). This test is about what an operator
	// sees (endpoints, metrics, `binflow status`), which the store does not
	// change, so it runs on the MySQL downstream only; the stopped flow's
	// error checked above is the MySQL connector's.
	o.kill9(p)
	offline := o.binflowStatus()
	if !strings.Contains(offline, "binflow: not running, not ready (offline") || !strings.Contains(offline, "does not answer at "+o.url) {
		t.Errorf("binflow status without binflow:\n%s", offline)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(o.binflowStatus("--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Source != "offline" || len(rep.Flows) != len(o.flows) {
		t.Errorf("binflow status --json offline: source %q, %d flows", rep.Source, len(rep.Flows))
	}
	for _, f := range rep.Flows {
		want := status.StateNotRunning
		if f.Name == "doomed" {
			want = "failed" // recorded downstream, its checkpoint unmoved since
		}
		if f.State != want || f.Checkpoint.Position.File == "" {
			t.Errorf("offline flow %+v, want state %s", f, want)
		}
	}
	if f := flowIn(rep, "doomed"); f.CaughtUp || f.LagBytes == 0 || f.LastError == nil || !f.LastError.Time.Equal(doomed.LastError.Time.Truncate(time.Microsecond)) ||
		f.LastError.Message != doomed.LastError.Message || f.LastError.Kind != "downstream" {
		t.Errorf("offline, the stopped flow must show as behind, with its last error as live (%+v): %+v, last error %+v", doomed.LastError, f, f.LastError)
	}
	if !strings.Contains(offline, "flow doomed: last error (downstream, at "+doomed.LastError.Time.UTC().Format(time.RFC3339)) {
		t.Errorf("binflow status without binflow does not show doomed's last error:\n%s", offline)
	}
}

// insertOrders commits one upstream transaction inserting n orders.
func (o *observedEnv) insertOrders(n int) {
	o.t.Helper()
	var b strings.Builder
	b.WriteString("INSERT INTO `" + o.shop + "`.orders (customer_id, amount, status, created_at) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, 250.00, 'paid', NOW(6))", i%3+1)
	}
	o.exec(o.up, b.String())
}

func metricValue(t *testing.T, metrics, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return 0
}

func TestLagRisesWhileDownstreamIsDown(t *testing.T) {
	const maxLag = 2 * time.Second
	o := newObservedEnv(t, maxLag, "")
	p := o.startServing()
	o.load(10, 5, 5)
	o.waitForCaughtUp(30 * time.Second)

	testenv.StopServer(t, "downstream")
	stopped := true
	defer func() {
		if stopped {
			testenv.StartServer(t, "downstream")
		}
	}()
	o.insertOrders(5)
	var first status.Flow
	var firstAt time.Time
	o.waitFor(20*time.Second, "orders_copy to retry with a lag", func() bool {
		first, firstAt = flowIn(o.report(), "orders_copy"), time.Now()
		return first.State == "retrying" && first.LagSeconds > 0 && first.PendingTxns > 0
	})
	o.waitFor(20*time.Second, "/readyz to say the lag exceeds health.max_lag", func() bool {
		code, body := o.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "flow orders_copy is") &&
			strings.Contains(body, "behind the upstream (health.max_lag is 2s)")
	})
	later := flowIn(o.report(), "orders_copy")
	elapsed := time.Since(firstAt).Seconds()
	if later.LagSeconds < first.LagSeconds+elapsed/2 || later.LagSeconds <= maxLag.Seconds() {
		t.Errorf("lag went from %.2fs to %.2fs in %.2fs: it must rise with the outage", first.LagSeconds, later.LagSeconds, elapsed)
	}
	if later.Retries == 0 || later.Errors["transient"] == 0 || later.LastError == nil || later.LagBytes == 0 || later.CaughtUp {
		t.Errorf("orders_copy during the outage: %+v", later)
	}
	metrics := o.metricLines()
	if v := metricValue(t, metrics, `binflow_flow_lag_seconds{flow="orders_copy"}`); v <= maxLag.Seconds() {
		t.Errorf("binflow_flow_lag_seconds{orders_copy} = %v during the outage", v)
	}
	if v := metricValue(t, metrics, `binflow_flow_retries_total{flow="orders_copy"}`); v == 0 {
		t.Error("binflow_flow_retries_total{orders_copy} = 0 during the outage")
	}
	if !strings.Contains(metrics, `binflow_flow_state{flow="orders_copy",state="retrying"} 1`) || !strings.Contains(metrics, "binflow_ready 0") {
		t.Error("/metrics does not show orders_copy retrying and binflow not ready")
	}

	testenv.StartServer(t, "downstream")
	stopped = false
	o.down = testenv.Downstream(t)
	o.waitForCaughtUp(60 * time.Second)
	o.verify()
	if !strings.Contains(p.out.String(), `"state":"retrying","previous":"running"`) {
		t.Error("the change to retrying is not logged")
	}
}

// waitForCaughtUp waits until every flow has applied all the upstream has
// and binflow is ready.
func (o *observedEnv) waitForCaughtUp(timeout time.Duration) {
	o.t.Helper()
	o.waitFor(timeout, "every flow to catch up", func() bool {
		r := o.report()
		for _, f := range r.Flows {
			if !f.CaughtUp {
				return false
			}
		}
		return r.Ready && len(r.Flows) == len(o.flows)
	})
}

func TestStatusWarnsBeforeTheUpstreamPurgesACheckpoint(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Start in a fresh binlog so that the current checkpoints never lie in
	// the oldest one, whatever earlier tests purged.
	e.exec(e.up, "FLUSH BINARY LOGS")
	p := e.start()
	e.load(5, 5, 5)
	e.caughtUp(30 * time.Second)
	e.stop(p)

	files := binlogNames(t, e)
	oldest := files[0]
	if len(files) < 2 {
		t.Fatalf("the upstream lists binlogs %v after FLUSH BINARY LOGS; want at least two", files)
	}
	base, seq, _ := strings.Cut(oldest, ".")
	n, err := strconv.Atoi(seq)
	if err != nil || n == 0 {
		t.Skipf("cannot name a binlog older than %s", oldest)
	}
	purged := fmt.Sprintf("%s.%0*d", base, len(seq), n-1)
	// The checkpoints as they would stand had binflow been stopped long
	// enough: one in the oldest binlog, one in a binlog already purged.
	move := func(flow, file string) {
		e.exec(e.down, "UPDATE `"+e.derived+"`.binflow_checkpoints SET binlog_file = ?, binlog_pos = 4 WHERE flow = ?", file, flow)
	}
	move("orders_copy", oldest)
	move("big_orders", purged)

	out, err := e.command("status").Output()
	if err != nil {
		t.Fatalf("binflow status: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"binflow: unknown, not ready (offline",
		"[http] listen is not set",
		"flow orders_copy: checkpoint " + oldest + ":4 is in " + oldest + ", the oldest binlog the upstream has: the next PURGE BINARY LOGS or binlog expiry removes it",
		"flow big_orders: checkpoint " + purged + ":4 is in a binlog the upstream has purged (its oldest is " + oldest + ")",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("binflow status does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "flow customer_totals: checkpoint") {
		t.Errorf("binflow status warns about customer_totals, whose checkpoint is current:\n%s", text)
	}
	out, err = e.command("status", "--json").Output()
	if err != nil {
		t.Fatalf("binflow status --json: %v\n%s", err, out)
	}
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]bool{"orders_copy": {true, false}, "big_orders": {true, true}, "customer_totals": {false, false}} {
		f := flowIn(r, name)
		if f.Retention.AtRisk != want[0] || f.Retention.Purged != want[1] {
			t.Errorf("flow %s retention %+v, want at risk %v, purged %v", name, f.Retention, want[0], want[1])
		}
	}
	if f := flowIn(r, "big_orders"); f.LagBytesKnown {
		t.Errorf("big_orders' lag in bytes cannot be known from a purged binlog: %+v", f)
	}
}

func binlogNames(t *testing.T, e *env) []string {
	t.Helper()
	rows, err := e.up.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var names []string
	for rows.Next() {
		var name string
		dest := []any{&name}
		for len(dest) < len(cols) {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// A hung upstream (its process stopped: connections stay open, nothing
// answers) stalls the reader: no event, no heartbeat for
// health.stall_after. binflow says so in /readyz, /metrics and its log,
// and recovers, exactly, once the upstream answers again.
func TestStalledUpstreamIsNotReadyAndRecovers(t *testing.T) {
	o := newObservedEnv(t, 30*time.Second, "stall_after = \"3s\"\n")
	p := o.startServing()
	o.load(10, 5, 5)
	o.waitForCaughtUp(30 * time.Second)
	if v := metricValue(t, o.metricLines(), "binflow_reader_stalled"); v != 0 {
		t.Fatalf("binflow_reader_stalled = %v before the freeze", v)
	}
	reconnects := metricValue(t, o.metricLines(), "binflow_reader_reconnects_total")

	thaw := testenv.FreezeServer(t, testenv.UpstreamName)
	frozen := time.Now()
	o.waitFor(20*time.Second, "/readyz to report the stalled reader", func() bool {
		code, body := o.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "binlog reader stalled: nothing, not even a heartbeat, received from the upstream for ")
	})
	// The bound runs from the last heartbeat, at most one period (1s)
	// before the freeze.
	if since := time.Since(frozen); since < 2*time.Second {
		t.Errorf("stalled %s after the freeze; the bound is 3s, heartbeats come every 1s", since)
	}
	if v := metricValue(t, o.metricLines(), "binflow_reader_stalled"); v != 1 {
		t.Errorf("binflow_reader_stalled = %v while the upstream is frozen", v)
	}
	if v := metricValue(t, o.metricLines(), "binflow_ready"); v != 0 {
		t.Errorf("binflow_ready = %v while the upstream is frozen", v)
	}
	if r := o.report(); r.Reader == nil || !r.Reader.Stalled || r.Ready {
		t.Errorf("/status while frozen: ready %v, reader %+v", r.Ready, r.Reader)
	}
	const stalledLog = `"message":"binlog reader stalled: no event or heartbeat from the upstream"`
	o.waitFor(15*time.Second, "the stall to be logged", func() bool { return strings.Contains(p.out.String(), stalledLog) })
	if !strings.Contains(p.out.String(), `"stall_after":3000`) {
		t.Errorf("the stall's log line does not give the bound (3s)")
	}

	thaw()
	o.waitFor(45*time.Second, "binflow to be ready again", func() bool {
		code, _ := o.get("/readyz")
		return code == http.StatusOK
	})
	metrics := o.metricLines()
	if v := metricValue(t, metrics, "binflow_reader_stalled"); v != 0 {
		t.Errorf("binflow_reader_stalled = %v after the upstream came back", v)
	}
	if v := metricValue(t, metrics, "binflow_reader_reconnects_total"); v <= reconnects {
		t.Errorf("binflow_reader_reconnects_total = %v, %v before the freeze: the reader's read timed out and it reconnected", v, reconnects)
	}
	o.waitFor(15*time.Second, "the recovery to be logged", func() bool {
		return strings.Contains(p.out.String(), `"message":"binlog reader receiving again"`)
	})
	if n := strings.Count(p.out.String(), stalledLog); n != 1 {
		t.Errorf("the stall is logged %d times, want once", n)
	}
	o.load(10, 5, 5)
	o.waitForCaughtUp(30 * time.Second)
	o.verify()
}

// metricSeries is the value of one series of /metrics, and whether it is
// there.
func metricSeries(metrics, series string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// While flows snapshot the rows their tables hold, /status, /metrics and
// /readyz show it: state snapshotting, rows copied rising towards an
// estimate, not ready; once done, the snapshot series are gone and binflow
// is ready.
func TestSnapshotProgressIsObservable(t *testing.T) {
	o := newObservedEnv(t, 30*time.Second, snapshotConfig)
	o.preload(20000, 2000)
	p := o.startSnapshotting()

	const rowsSeries = `binflow_flow_snapshot_rows{flow="orders_copy"}`
	var (
		rows        []float64 // distinct values of binflow_flow_snapshot_rows, in order
		estimate    float64
		sawStatus   bool // /status: orders_copy snapshotting with progress
		sawState    bool // /metrics: state snapshotting
		sawNotReady bool // /readyz: 503 naming the snapshotting flow
		statusRows  []uint64
	)
	o.waitFor(90*time.Second, "orders_copy's snapshot to finish", func() bool {
		o.alive(p)
		code, metrics := o.get("/metrics")
		if code != http.StatusOK {
			return false // not serving yet
		}
		v, inProgress := metricSeries(metrics, rowsSeries)
		if inProgress {
			if len(rows) == 0 || rows[len(rows)-1] != v {
				rows = append(rows, v)
			}
			if est, ok := metricSeries(metrics, `binflow_flow_snapshot_rows_estimate{flow="orders_copy"}`); ok && est > estimate {
				estimate = est
			}
			if strings.Contains(metrics, `binflow_flow_state{flow="orders_copy",state="snapshotting"} 1`) {
				sawState = true
			}
			if code, body := o.get("/readyz"); code == http.StatusServiceUnavailable && strings.Contains(body, "flow orders_copy is snapshotting") {
				sawNotReady = true
			}
			f := flowIn(o.report(), "orders_copy")
			if f.State == "snapshotting" && f.Snapshot != nil && f.Snapshot.RowsEstimate > 0 && f.Snapshot.Table != "" {
				sawStatus = true
				if n := len(statusRows); n == 0 || statusRows[n-1] != f.Snapshot.Rows {
					statusRows = append(statusRows, f.Snapshot.Rows)
				}
			}
			return false
		}
		return len(rows) > 0 && o.count("binflow_snapshots") == 0
	})
	t.Logf("binflow_flow_snapshot_rows{orders_copy} went %v of an estimate of %v; /status rows %v", rows, estimate, statusRows)
	if len(rows) < 2 {
		t.Errorf("binflow_flow_snapshot_rows{orders_copy} took the values %v: it must rise during the copy", rows)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i] < rows[i-1] {
			t.Errorf("binflow_flow_snapshot_rows{orders_copy} went down: %v", rows)
			break
		}
	}
	if estimate < 10000 {
		t.Errorf("binflow_flow_snapshot_rows_estimate{orders_copy} = %v, for 20,000 rows", estimate)
	}
	if len(statusRows) < 2 {
		t.Errorf("/status snapshot rows of orders_copy took the values %v: they must rise", statusRows)
	}
	if !sawStatus || !sawState || !sawNotReady {
		t.Errorf("during the snapshot: /status snapshotting with progress %v, /metrics state snapshotting %v, /readyz 503 naming it %v",
			sawStatus, sawState, sawNotReady)
	}

	o.waitForCaughtUp(60 * time.Second)
	metrics := o.metricLines()
	if _, ok := metricSeries(metrics, rowsSeries); ok {
		t.Errorf("%s still exported after the snapshot", rowsSeries)
	}
	if !strings.Contains(metrics, `binflow_flow_state{flow="orders_copy",state="running"} 1`) {
		t.Errorf("orders_copy is not running after its snapshot")
	}
	if f := flowIn(o.report(), "orders_copy"); f.Snapshot != nil || f.State != "running" {
		t.Errorf("/status of orders_copy after its snapshot: state %s, snapshot %+v", f.State, f.Snapshot)
	}
	o.verify()
}

// batchLine is the debug line of one committed batch (flow/runner.go).
type batchLine struct {
	Level    string   `json:"level"`
	Message  string   `json:"message"`
	Flow     *string  `json:"flow"`
	Position *string  `json:"position"`
	Txns     *int     `json:"txns"`
	RowsIn   *int     `json:"rows_in"`
	RowsOut  *int     `json:"rows_out"`
	Attempts *int     `json:"attempts"`
	Commit   *float64 `json:"commit"` // milliseconds
	Time     string   `json:"time"`
}

var positionRE = regexp.MustCompile(`^[\w.-]+\.\d+:\d+$`)

// checkBatchLog checks the JSON debug lines "batch committed" of a flow:
// every field there and sound; with its "snapshot batch committed" lines,
// one per batch of binflow_flow_batches_total and their rows out adding up
// to its binflow_flow_rows_out_total; the last one at the flow's
// checkpoint.
func checkBatchLog(t *testing.T, out, flowName, metrics string, f status.Flow) {
	t.Helper()
	var lines []batchLine
	snapshotBatches, rowsOut := 0, 0
	for _, raw := range strings.Split(out, "\n") {
		if strings.Contains(raw, `"message":"snapshot batch committed"`) && strings.Contains(raw, `"flow":"`+flowName+`"`) {
			var l batchLine
			if err := json.Unmarshal([]byte(raw), &l); err != nil || l.RowsOut == nil {
				t.Errorf("snapshot batch line: %v\n%s", err, raw)
				continue
			}
			snapshotBatches++
			rowsOut += *l.RowsOut
			continue
		}
		if !strings.Contains(raw, `"message":"batch committed"`) {
			continue
		}
		var l batchLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Errorf("batch line is not JSON: %v\n%s", err, raw)
			continue
		}
		if l.Flow == nil || l.Position == nil || l.Txns == nil || l.RowsIn == nil || l.RowsOut == nil || l.Attempts == nil || l.Commit == nil || l.Time == "" {
			t.Errorf("batch line lacks a field (flow, position, txns, rows_in, rows_out, attempts, commit, time): %s", raw)
			continue
		}
		if l.Level != "debug" || !positionRE.MatchString(*l.Position) || *l.Txns < 1 || *l.RowsIn < 0 || *l.RowsOut < 0 ||
			*l.Attempts < 1 || *l.Commit < 0 {
			t.Errorf("batch line with unsound values: %s", raw)
		}
		if *l.Flow == flowName {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no %q line for flow %s in binflow's debug log", "batch committed", flowName)
	}
	for _, l := range lines {
		rowsOut += *l.RowsOut
	}
	if want := metricValue(t, metrics, `binflow_flow_rows_out_total{flow="`+flowName+`"}`); float64(rowsOut) != want {
		t.Errorf("the batch lines of %s add up to %d rows out; binflow_flow_rows_out_total says %v", flowName, rowsOut, want)
	}
	if want := metricValue(t, metrics, `binflow_flow_batches_total{flow="`+flowName+`"}`); float64(len(lines)+snapshotBatches) != want {
		t.Errorf("%d batch lines and %d snapshot batch lines for %s; binflow_flow_batches_total says %v", len(lines), snapshotBatches, flowName, want)
	}
	if last := *lines[len(lines)-1].Position; last != f.Checkpoint.Position.String() {
		t.Errorf("the last batch line of %s is at %s, its checkpoint at %s", flowName, last, f.Checkpoint.Position)
	}
}
