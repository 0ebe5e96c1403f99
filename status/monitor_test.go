package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/schema"
)

// fakes of what the monitor watches, changed by tests between polls.
type fakeEngine struct {
	mu sync.Mutex
	st flow.Status
}

func (e *fakeEngine) Status() flow.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	st.Flows = append([]flow.FlowStatus(nil), e.st.Flows...)
	return st
}

func (e *fakeEngine) set(change func(*flow.Status)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	change(&e.st)
}

type fakeUpstream struct {
	mu    sync.Mutex
	pos   schema.Position
	files canal.Binlogs
	err   error
}

func (u *fakeUpstream) CurrentPosition(context.Context) (schema.Position, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pos, u.err
}

func (u *fakeUpstream) BinaryLogs(context.Context) (canal.Binlogs, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.files, u.err
}

type fakeProgress struct {
	mu sync.Mutex
	s  canal.ReadProgressSnapshot
}

func (p *fakeProgress) Snapshot() canal.ReadProgressSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s
}

// events receives n new events or heartbeats: activity.
func (p *fakeProgress) events(n uint64) {
	p.mu.Lock()
	p.s.Events += n
	p.s.Activity += n
	p.mu.Unlock()
}

// reconnect counts a reconnect that brings n synthetic events: events, not
// activity.
func (p *fakeProgress) reconnect(n uint64) {
	p.mu.Lock()
	p.s.Reconnects++
	p.s.Events += n
	p.mu.Unlock()
}

// syncBuffer is a log sink safe for the monitor's goroutine and the test.
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

type rig struct {
	m        *Monitor
	engine   *fakeEngine
	upstream *fakeUpstream
	progress *fakeProgress
	registry *prometheus.Registry
	log      *syncBuffer
	now      time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	end := at("bin.000003", 400)
	r := &rig{
		engine: &fakeEngine{st: flow.Status{Streaming: true, ReadPos: end, ReadCommitTime: ago(time.Minute), Flows: []flow.FlowStatus{
			{Name: "orders", State: flow.StateRunning, QueueCapacity: 8, Checkpoint: connectors.Checkpoint{Pos: end, CommitTime: ago(time.Minute)},
				Errors: map[flow.ErrorKind]uint64{flow.ErrorTransient: 2}},
			{Name: "totals", State: flow.StateRunning, QueueCapacity: 8, Checkpoint: connectors.Checkpoint{Pos: end, CommitTime: ago(time.Minute)}},
		}}},
		upstream: &fakeUpstream{pos: end, files: binlogs},
		progress: &fakeProgress{},
		registry: prometheus.NewRegistry(),
		log:      &syncBuffer{},
		now:      t0,
	}
	m, err := NewMonitor(r.upstream, r.progress, Options{MaxLag: 10 * time.Second, StallAfter: 15 * time.Second,
		ServerID: 1, Log: zerolog.New(r.log), Registry: r.registry, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m.opts.now = func() time.Time { return r.now }
	r.m = m
	return r
}

// poll advances the clock and polls once.
func (r *rig) poll(after time.Duration) Report {
	r.now = r.now.Add(after)
	r.m.Poll(context.Background())
	return r.m.Report()
}

func (r *rig) flow(name string, change func(*flow.FlowStatus)) {
	r.engine.set(func(st *flow.Status) {
		for i := range st.Flows {
			if st.Flows[i].Name == name {
				change(&st.Flows[i])
			}
		}
	})
}

func (r *rig) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s%v not exported", name, labels)
	return 0
}

func TestMonitorPhasesAndReadiness(t *testing.T) {
	r := newRig(t)
	r.m.SetPhase("connecting to the downstream")
	rep := r.poll(time.Second)
	if rep.Ready || rep.Phase != PhaseStarting || len(rep.NotReady) != 1 || rep.NotReady[0] != "binflow is starting: connecting to the downstream" {
		t.Errorf("before Attach: ready %v, phase %q, reasons %q", rep.Ready, rep.Phase, rep.NotReady)
	}
	r.m.Attach(r.engine)
	rep = r.poll(time.Second)
	if !rep.Ready || rep.Phase != PhaseRunning || len(rep.Flows) != 2 || !rep.Flows[0].CaughtUp {
		t.Errorf("streaming and caught up: %+v", rep)
	}
	if got := r.metric(t, "binflow_ready"); got != 1 {
		t.Errorf("binflow_ready = %v, want 1", got)
	}

	// The downstream fails: the batch stays open, the lag grows past the bound.
	r.flow("totals", func(f *flow.FlowStatus) {
		f.State, f.PendingTxns, f.OldestPendingCommit, f.Retries = flow.StateRetrying, 4, r.now, 3
	})
	if rep = r.poll(5 * time.Second); !rep.Ready || rep.Flows[1].LagSeconds != 5 {
		t.Errorf("5s into an outage: ready %v, lag %v; want ready (bound 10s), lag 5", rep.Ready, rep.Flows[1].LagSeconds)
	}
	if rep = r.poll(6 * time.Second); rep.Ready || rep.Flows[1].LagSeconds != 11 ||
		!strings.Contains(strings.Join(rep.NotReady, ";"), "flow totals is 11s behind the upstream (health.max_lag is 10s)") {
		t.Errorf("11s into an outage: ready %v, lag %v, reasons %q", rep.Ready, rep.Flows[1].LagSeconds, rep.NotReady)
	}
	if got := r.metric(t, "binflow_flow_lag_seconds", "flow", "totals"); got != 11 {
		t.Errorf("binflow_flow_lag_seconds{flow=totals} = %v, want 11", got)
	}
	if got := r.metric(t, "binflow_flow_state", "flow", "totals", "state", "retrying"); got != 1 {
		t.Errorf("binflow_flow_state{totals,retrying} = %v, want 1", got)
	}

	// It fails for good.
	r.flow("totals", func(f *flow.FlowStatus) {
		f.State, f.LastError, f.LastErrorKind, f.LastErrorTime = flow.StateFailed, "flow totals: commit batch at bin.000003:400 to t: no table", flow.ErrorDownstream, r.now
	})
	rep = r.poll(time.Second)
	if rep.Ready || rep.Flows[1].LastError == nil || rep.Flows[1].LastError.Kind != "downstream" ||
		!strings.Contains(strings.Join(rep.NotReady, ";"), "flow totals is failed: commit batch at bin.000003:400 to t: no table") {
		t.Errorf("failed flow: ready %v, last error %+v, reasons %q", rep.Ready, rep.Flows[1].LastError, rep.NotReady)
	}
	if got := r.metric(t, "binflow_ready"); got != 0 {
		t.Errorf("binflow_ready = %v, want 0", got)
	}
	logs := r.log.String()
	if strings.Count(logs, `"message":"not ready"`) != 1 || strings.Count(logs, `"message":"ready: every flow applying within health.max_lag"`) != 1 {
		t.Errorf("readiness changes are logged once each:\n%s", logs)
	}

	r.engine.set(func(st *flow.Status) { st.Streaming = false })
	r.m.Ended()
	if rep = r.poll(time.Second); rep.Phase != PhaseStopped {
		t.Errorf("after Ended: phase %q", rep.Phase)
	}
}

func TestMonitorDetectsStalledReader(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.progress.events(10)
	r.poll(0)
	// An idle upstream sends heartbeats: events keep arriving.
	for range 5 {
		r.progress.events(1)
		if rep := r.poll(5 * time.Second); rep.Reader.Stalled || !rep.Ready {
			t.Fatalf("heartbeats every 5s, yet stalled %v, ready %v", rep.Reader.Stalled, rep.Ready)
		}
	}
	// Then nothing.
	if rep := r.poll(10 * time.Second); rep.Reader.Stalled {
		t.Fatal("stalled after 10s, the bound is 15s")
	}
	rep := r.poll(6 * time.Second)
	if !rep.Reader.Stalled || rep.Ready || !strings.Contains(strings.Join(rep.NotReady, ";"), "binlog reader stalled") {
		t.Fatalf("16s without events: stalled %v, ready %v, reasons %q", rep.Reader.Stalled, rep.Ready, rep.NotReady)
	}
	if got := r.metric(t, "binflow_reader_stalled"); got != 1 {
		t.Errorf("binflow_reader_stalled = %v", got)
	}
	r.poll(time.Second)
	r.progress.events(1)
	if rep := r.poll(time.Second); rep.Reader.Stalled || !rep.Ready {
		t.Errorf("events again: stalled %v, ready %v", rep.Reader.Stalled, rep.Ready)
	}
	logs := r.log.String()
	if strings.Count(logs, `"message":"binlog reader stalled: no event or heartbeat from the upstream"`) != 1 ||
		strings.Count(logs, `"message":"binlog reader receiving again"`) != 1 {
		t.Errorf("stall and recovery are logged once each:\n%s", logs)
	}

	// Waiting for a full flow queue is backpressure, not a stall.
	r.engine.set(func(st *flow.Status) { st.BlockedOn, st.BlockedSince = "orders", r.now })
	if rep := r.poll(time.Minute); rep.Reader.Stalled || rep.Reader.BlockedOn != "orders" {
		t.Errorf("blocked a minute: stalled %v, blocked on %q", rep.Reader.Stalled, rep.Reader.BlockedOn)
	}
	if got := r.metric(t, "binflow_reader_blocked"); got != 1 {
		t.Errorf("binflow_reader_blocked = %v", got)
	}
}

// An upstream that accepts reconnects but streams nothing: every read
// timeout (15s, the stall bound) the reader reconnects and receives the
// synthetic events a dump starts with. Those are not activity, so the
// reader is stalled and stays so, without flapping at each reconnect.
func TestMonitorStallsThroughReconnectsThatStreamNothing(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.progress.events(10)
	r.poll(0)
	stalledAt := 0
	for i := 1; i <= 12; i++ {
		if i%4 == 0 { // every 16s, as the read timeout and the backoff allow
			r.progress.reconnect(2)
		}
		rep := r.poll(4 * time.Second)
		switch {
		case rep.Reader.Stalled && stalledAt == 0:
			stalledAt = i
		case !rep.Reader.Stalled && stalledAt != 0:
			t.Fatalf("poll %d (%ds): no longer stalled after a reconnect that streamed nothing (%d reconnects, %d events)",
				i, 4*i, rep.Reader.Reconnects, rep.Reader.Events)
		}
	}
	if stalledAt != 4 {
		t.Errorf("stalled at poll %d (%ds), want 4 (16s: over the 15s bound)", stalledAt, 4*stalledAt)
	}
	if got := r.metric(t, "binflow_reader_reconnects_total"); got != 3 {
		t.Errorf("binflow_reader_reconnects_total = %v, want 3", got)
	}
	if got := r.metric(t, "binflow_reader_stalled"); got != 1 {
		t.Errorf("binflow_reader_stalled = %v", got)
	}
	if logs := r.log.String(); strings.Count(logs, `"message":"binlog reader stalled: `) != 1 || strings.Contains(logs, "binlog reader receiving again") {
		t.Errorf("the stall is logged once, with no recovery:\n%s", logs)
	}
	// A heartbeat is the upstream streaming again.
	r.progress.events(1)
	if rep := r.poll(time.Second); rep.Reader.Stalled || !rep.Ready {
		t.Errorf("after a heartbeat: stalled %v, ready %v", rep.Reader.Stalled, rep.Ready)
	}
}

// A flow snapshotting: /status carries its progress, /metrics the rows
// copied and the estimate, /readyz names it, the text shows it; once done,
// the snapshot series go.
func TestMonitorReportsSnapshotProgress(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	started := r.now.Add(-time.Minute)
	snap := func(rows uint64) {
		r.flow("totals", func(f *flow.FlowStatus) {
			f.State = flow.StateSnapshotting
			f.Checkpoint = connectors.Checkpoint{}
			f.Snapshot = &flow.SnapshotStatus{Flow: "totals", Phase: flow.SnapshotCopying, Table: "shop.orders",
				Position: at("bin.000003", 120), Rows: rows, Estimate: 20000, Started: started, Resumes: 1}
		})
	}
	snap(3000)
	rep := r.poll(time.Second)
	f := rep.Flows[1]
	want := Snapshot{Phase: "copying", Table: "shop.orders", Position: Position{File: "bin.000003", Pos: 120}, Rows: 3000,
		RowsEstimate: 20000, Started: started, Resumes: 1}
	if f.Name != "totals" || f.State != "snapshotting" || f.Snapshot == nil || *f.Snapshot != want {
		t.Fatalf("snapshotting flow in the report: state %q, snapshot %+v; want %+v", f.State, f.Snapshot, want)
	}
	if rep.Ready || !strings.Contains(strings.Join(rep.NotReady, ";"), "flow totals is snapshotting") {
		t.Errorf("ready %v while a flow snapshots: %q", rep.Ready, rep.NotReady)
	}
	if got := r.metric(t, "binflow_flow_snapshot_rows", "flow", "totals"); got != 3000 {
		t.Errorf("binflow_flow_snapshot_rows{totals} = %v", got)
	}
	if got := r.metric(t, "binflow_flow_snapshot_rows_estimate", "flow", "totals"); got != 20000 {
		t.Errorf("binflow_flow_snapshot_rows_estimate{totals} = %v", got)
	}
	if got := r.metric(t, "binflow_flow_state", "flow", "totals", "state", "snapshotting"); got != 1 {
		t.Errorf("binflow_flow_state{totals,snapshotting} = %v", got)
	}
	snap(9000)
	if got := r.metric(t, "binflow_flow_snapshot_rows", "flow", "totals"); got != 9000 {
		t.Errorf("binflow_flow_snapshot_rows{totals} = %v after more rows", got)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r.m.Report(), "live"); err != nil {
		t.Fatal(err)
	}
	if line := "flow totals: snapshot copying shop.orders: 9000 of ~20000 rows (view at bin.000003:120, started 1m1s ago)"; !strings.Contains(b.String(), line) {
		t.Errorf("binflow status does not say %q:\n%s", line, b.String())
	}
	// Done: no snapshot series for the flow any more.
	r.flow("totals", func(f *flow.FlowStatus) { f.State, f.Snapshot = flow.StateRunning, nil })
	r.poll(time.Second)
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if strings.HasPrefix(fam.GetName(), "binflow_flow_snapshot_rows") {
			t.Errorf("%s exported with no snapshot in progress: %v", fam.GetName(), fam.GetMetric())
		}
	}
}

func TestMonitorUpstreamAheadOfReader(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.poll(0)
	// New transactions upstream after an idle hour; the reader has not
	// read them yet.
	r.upstream.mu.Lock()
	r.upstream.pos = at("bin.000003", 480)
	r.upstream.mu.Unlock()
	rep := r.poll(time.Second)
	if f := rep.Flows[0]; f.CaughtUp || f.LagSeconds != 0 || f.LagBytes != 80 || rep.Reader.BehindBytes != 80 {
		t.Errorf("just behind: %+v, reader %+v", f, rep.Reader)
	}
	rep = r.poll(3 * time.Second)
	if f := rep.Flows[0]; f.LagSeconds != 3 {
		t.Errorf("3s behind with the reader not moving: lag %v", f.LagSeconds)
	}
	// A heartbeat at the upstream's end: caught up again.
	r.progress.mu.Lock()
	r.progress.s.Heartbeats, r.progress.s.HeartbeatPos, r.progress.s.HeartbeatTime = 1, at("bin.000003", 480), r.now
	r.progress.mu.Unlock()
	if rep = r.poll(time.Second); !rep.Flows[0].CaughtUp || rep.Reader.Position.Pos != 480 || rep.Reader.Heartbeats != 1 {
		t.Errorf("after the heartbeat: %+v, reader %+v", rep.Flows[0], rep.Reader)
	}
}

func TestMonitorWarnsBeforeCheckpointIsPurged(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.poll(0)
	if got := r.metric(t, "binflow_flow_binlog_retention_at_risk", "flow", "orders"); got != 0 {
		t.Errorf("at risk = %v before", got)
	}
	r.flow("orders", func(f *flow.FlowStatus) { f.State, f.Checkpoint.Pos = flow.StateFailed, at("bin.000001", 300) })
	rep := r.poll(time.Second)
	r.poll(time.Second)
	if !rep.Flows[0].Retention.AtRisk || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "oldest binlog") {
		t.Errorf("checkpoint in the oldest binlog: retention %+v, warnings %q", rep.Flows[0].Retention, rep.Warnings)
	}
	if got := r.metric(t, "binflow_flow_binlog_retention_at_risk", "flow", "orders"); got != 1 {
		t.Errorf("binflow_flow_binlog_retention_at_risk{orders} = %v, want 1", got)
	}
	if n := strings.Count(r.log.String(), "the oldest binlog the upstream has"); n != 1 {
		t.Errorf("the warning is logged %d times over two polls, want once:\n%s", n, r.log.String())
	}
	r.flow("orders", func(f *flow.FlowStatus) { f.Checkpoint.Pos = at("bin.000002", 4) })
	if rep = r.poll(time.Second); rep.Flows[0].Retention.AtRisk || len(rep.Warnings) != 0 {
		t.Errorf("checkpoint moved on: %+v", rep.Flows[0].Retention)
	}
	if !strings.Contains(r.log.String(), "checkpoint no longer in the upstream's oldest binlog") {
		t.Errorf("the all-clear is not logged:\n%s", r.log.String())
	}
}

func TestMonitorKeepsLastKnownUpstream(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.poll(0)
	r.upstream.mu.Lock()
	r.upstream.err = errors.New("connection refused")
	r.upstream.mu.Unlock()
	rep := r.poll(time.Second)
	rep = r.poll(time.Second)
	if rep.Upstream.Error != "connection refused" || rep.Upstream.Position.Pos != 400 {
		t.Errorf("upstream %+v: want the error and the last known position", rep.Upstream)
	}
	if got := r.metric(t, "binflow_upstream_up"); got != 0 {
		t.Errorf("binflow_upstream_up = %v", got)
	}
	if n := strings.Count(r.log.String(), "cannot read the upstream's binlog position"); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
}

func TestMonitorSamplesThroughput(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.poll(0)
	r.flow("orders", func(f *flow.FlowStatus) { f.RowsIn, f.RowsOut = 200, 100 })
	rep := r.poll(2 * time.Second)
	if f := rep.Flows[0]; f.RowsInPerSecond != 100 || f.RowsOutPerSecond != 50 {
		t.Errorf("rates %v in, %v out; want 100, 50", f.RowsInPerSecond, f.RowsOutPerSecond)
	}
	h := r.m.History(0)
	if len(h.Samples) != 2 || h.Samples[1].Flows["orders"].RowsInPerSecond != 100 || h.IntervalSeconds != 1 || h.WindowSeconds != 300 {
		t.Errorf("history %+v", h)
	}
	if later := r.m.History(h.Samples[0].Time); len(later.Samples) != 1 {
		t.Errorf("history since the first sample: %d samples, want 1", len(later.Samples))
	}
}

func TestHistoryRingKeepsTheLatest(t *testing.T) {
	h := newHistory(3)
	for i := range 5 {
		h.add(t0.Add(time.Duration(i)*time.Second), []Flow{{Name: "f", LagSeconds: float64(i)}})
	}
	got := h.since(0)
	if len(got) != 3 || got[0].Flows["f"].LagSeconds != 2 || got[2].Flows["f"].LagSeconds != 4 {
		t.Errorf("ring holds %+v, want lags 2, 3, 4", got)
	}
}

func TestHandlerEndpoints(t *testing.T) {
	r := newRig(t)
	r.m.Attach(r.engine)
	r.poll(0)
	r.m.BatchCommitted("orders", flow.BatchStats{Txns: 3, RowsOut: 10, CommitTook: 4 * time.Millisecond})
	srv := httptest.NewServer(r.m.Handler(r.registry))
	defer srv.Close()

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	tests := []struct {
		path, contentType string
		code              int
		contains          []string
	}{
		{"/", "text/html", 200, []string{"<title>binflow status</title>", `fetch("status"`}},
		{"/healthz", "text/plain", 200, []string{"ok"}},
		{"/readyz", "text/plain", 200, []string{"ready"}},
		{"/status", "application/json", 200, []string{`"phase": "running"`, `"name": "orders"`, `"name": "totals"`}},
		{"/status/history?since=0", "application/json", 200, []string{`"samples"`, `"orders"`}},
		{"/status/history?since=yesterday", "text/plain", 400, []string{"Unix time in milliseconds"}},
		{"/metrics", "text/plain", 200, []string{
			`binflow_ready 1`,
			`binflow_build_info{goversion="go`,
			`binflow_flow_state{flow="orders",state="running"} 1`,
			`binflow_flow_errors_total{flow="orders",kind="transient"} 2`,
			`binflow_flow_lag_seconds{flow="orders"} 0`,
			`binflow_flow_lag_bytes{flow="totals"} 0`,
			`binflow_flow_queue_capacity_transactions{flow="orders"} 8`,
			`binflow_flow_batch_commit_duration_seconds_count{flow="orders"} 1`,
			`binflow_flow_batch_rows_sum{flow="orders"} 10`,
			`binflow_reader_binlog_file_number 3`,
			`binflow_upstream_binlog_position_bytes 400`,
			`binflow_upstream_binlog_files 3`,
			`go_goroutines`,
			`process_cpu_seconds_total`,
		}},
		{"/nothing", "text/plain", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, ct, body := get(tt.path)
			if code != tt.code || !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("GET %s: %d %s, want %d %s", tt.path, code, ct, tt.code, tt.contentType)
			}
			for _, want := range tt.contains {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s does not contain %q:\n%s", tt.path, want, body)
				}
			}
		})
	}

	var rep Report
	_, _, body := get("/status")
	if err := json.Unmarshal([]byte(body), &rep); err != nil || len(rep.Flows) != 2 || rep.Source != "live" {
		t.Errorf("/status does not decode as a Report: %v %+v", err, rep)
	}
	// The metrics lint clean (names, help, units).
	problems, err := testutil.GatherAndLint(r.registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "binflow_") {
			t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
		}
	}

	r.flow("totals", func(f *flow.FlowStatus) { f.State = flow.StateFailed })
	if code, _, body := get("/readyz"); code != 503 || !strings.Contains(body, "- flow totals is failed") {
		t.Errorf("/readyz with a failed flow: %d\n%s", code, body)
	}
}

func TestLiveURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9180": "http://127.0.0.1:9180",
		":9180":          "http://127.0.0.1:9180",
		"0.0.0.0:9180":   "http://127.0.0.1:9180",
		"[::1]:9180":     "http://[::1]:9180",
		"localhost:0":    "",
		"":               "",
	} {
		if got := LiveURL(addr); got != want {
			t.Errorf("LiveURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestNewMonitorNeedsARegistry(t *testing.T) {
	if _, err := NewMonitor(&fakeUpstream{}, &fakeProgress{}, Options{}); err == nil {
		t.Error("NewMonitor without a registry succeeded")
	}
}
