package status

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/schema"
)

// Engine is the flow engine as the monitor sees it (flow.Engine).
type Engine interface {
	Status() flow.Status
}

// BinlogPositions is the upstream server as the monitor polls it
// (canal.Source): where its binlog ends and which binlog files it has.
type BinlogPositions interface {
	CurrentPosition(ctx context.Context) (schema.Position, error)
	BinaryLogs(ctx context.Context) (canal.Binlogs, error)
}

// ReaderProgress is the binlog reader's own account of its connection
// (canal.ReadProgress).
type ReaderProgress interface {
	Snapshot() canal.ReadProgressSnapshot
}

// Options tune a Monitor.
type Options struct {
	// MaxLag is the largest lag of any flow at which binflow is ready
	// (default 30s).
	MaxLag time.Duration
	// StallAfter is how long the reader may receive nothing, not even a
	// heartbeat, while not held back by backpressure, before it counts as
	// stalled (default 15s: three heartbeat periods of 5s).
	StallAfter time.Duration
	// PollInterval is how often the upstream is polled and throughput is
	// sampled (default 1s).
	PollInterval time.Duration
	// History is how much throughput and lag history is kept for the
	// status page (default 5m).
	History time.Duration
	// ServerID is the upstream's server_id, shown in reports.
	ServerID uint32
	Log      zerolog.Logger
	// Registry receives binflow's metrics. It must not be nil.
	Registry *prometheus.Registry
	// Version is reported in binflow_build_info.
	Version string

	now func() time.Time // tests
}

// Monitor watches the engine, the binlog reader and the upstream, and
// answers Report. Create it with NewMonitor, run Run in a goroutine, and
// Attach the engine once it exists.
type Monitor struct {
	opts     Options
	upstream BinlogPositions
	progress ReaderProgress
	metrics  *metrics

	mu     sync.Mutex
	phase  string // before an engine is attached
	detail string // what the phase waits for
	engine Engine
	ended  bool // the engine's Run returned

	up           upstreamState
	lastActivity uint64
	lastEventAt  time.Time // when the reader's activity count last moved
	streamingAt  time.Time // when streaming was first seen
	behindSince  time.Time // upstream first seen ahead of the reader
	rates        map[string]rates
	prev         sampleState
	history      *history

	// What was last logged, so that only changes are.
	stalledLogged bool
	atRiskLogged  map[string]bool
	readyLogged   *bool
	upErrLogged   bool
}

type upstreamState struct {
	pos       schema.Position
	binlogs   canal.Binlogs
	checkedAt time.Time
	err       error
}

type rates struct{ in, out float64 }

type sampleState struct {
	at     time.Time
	totals map[string][2]uint64 // rows in, rows out
}

// NewMonitor builds a monitor over the upstream and the reader's progress,
// registering binflow's metrics on o.Registry.
func NewMonitor(upstream BinlogPositions, progress ReaderProgress, o Options) (*Monitor, error) {
	if o.Registry == nil {
		return nil, fmt.Errorf("status monitor: no prometheus registry given")
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 30 * time.Second
	}
	if o.StallAfter <= 0 {
		o.StallAfter = 15 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.History <= 0 {
		o.History = 5 * time.Minute
	}
	if o.now == nil {
		o.now = time.Now
	}
	m := &Monitor{opts: o, upstream: upstream, progress: progress, phase: PhaseStarting,
		rates: map[string]rates{}, atRiskLogged: map[string]bool{},
		history: newHistory(int(o.History / o.PollInterval))}
	var err error
	if m.metrics, err = newMetrics(m, o.Registry, o.Version); err != nil {
		return nil, err
	}
	return m, nil
}

// SetPhase says what binflow is doing before the engine is attached
// ("connecting to the downstream"), for reports.
func (m *Monitor) SetPhase(detail string) {
	m.mu.Lock()
	m.detail = detail
	m.mu.Unlock()
}

// Attach hands the monitor the engine once it is built.
func (m *Monitor) Attach(e Engine) {
	m.mu.Lock()
	m.engine, m.detail = e, ""
	m.mu.Unlock()
}

// Ended records that the engine has stopped (its Run returned).
func (m *Monitor) Ended() {
	m.mu.Lock()
	m.ended = true
	m.mu.Unlock()
}

// BatchCommitted records a committed batch in the metrics; the monitor is
// the engine's flow.Observer.
func (m *Monitor) BatchCommitted(flowName string, b flow.BatchStats) {
	m.metrics.batchCommitted(flowName, b)
}

// Run polls the upstream and samples the engine every PollInterval until
// ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		m.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads the upstream's position and binlogs once, samples throughput,
// and logs what changed: the reader stalling or recovering, a checkpoint
// coming near a purge, readiness. Run calls it; tests call it directly.
func (m *Monitor) Poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	pos, err := m.upstream.CurrentPosition(pctx)
	var files canal.Binlogs
	if err == nil {
		files, err = m.upstream.BinaryLogs(pctx)
	}
	cancel()
	if ctx.Err() != nil {
		return
	}

	now := m.opts.now()
	prog, es, attached := m.observe()

	m.mu.Lock()
	var logs []func()
	if err != nil {
		m.up.err = err
		if !m.upErrLogged {
			m.upErrLogged = true
			logs = append(logs, func() {
				m.opts.Log.Warn().Err(err).Msg("cannot read the upstream's binlog position; lag is measured against the last one known")
			})
		}
	} else {
		m.up = upstreamState{pos: pos, binlogs: files, checkedAt: now}
		if m.upErrLogged {
			m.upErrLogged = false
			logs = append(logs, func() { m.opts.Log.Info().Str("position", pos.String()).Msg("upstream position readable again") })
		}
	}
	m.trackReader(now, prog, es)
	readerPos := maxPos(es.ReadPos, prog.HeartbeatPos)
	if !m.up.pos.IsZero() && readerPos.Compare(m.up.pos) < 0 {
		if m.behindSince.IsZero() {
			m.behindSince = now
		}
	} else {
		m.behindSince = time.Time{}
	}
	m.sample(now, es)
	r := m.reportLocked(now, prog, es, attached)
	m.history.add(now, r.Flows)
	logs = append(logs, m.changes(r)...)
	m.mu.Unlock()
	for _, l := range logs {
		l()
	}
}

// observe reads the reader's progress, then the engine: in that order, a
// heartbeat seen in the first is never newer than what the second shows
// routed to the flows.
func (m *Monitor) observe() (canal.ReadProgressSnapshot, flow.Status, bool) {
	prog := m.progress.Snapshot()
	m.mu.Lock()
	e := m.engine
	m.mu.Unlock()
	if e == nil {
		return prog, flow.Status{}, false
	}
	return prog, e.Status(), true
}

// trackReader notes when the reader last received a heartbeat or binlog
// it had not received before (canal's Activity: the synthetic events of a
// reconnect do not count, so an upstream that accepts connections but
// streams nothing stalls however often the reader reconnects). A reader
// that waits for a full flow queue receives nothing by design, so waiting
// counts as activity.
func (m *Monitor) trackReader(now time.Time, prog canal.ReadProgressSnapshot, es flow.Status) {
	if es.Streaming && m.streamingAt.IsZero() {
		m.streamingAt = now
	}
	if prog.Activity != m.lastActivity || es.BlockedOn != "" || m.lastEventAt.IsZero() {
		m.lastActivity, m.lastEventAt = prog.Activity, now
	}
}

func (m *Monitor) stalled(now time.Time, es flow.Status) bool {
	if !es.Streaming || es.BlockedOn != "" {
		return false
	}
	since := latest(m.lastEventAt, m.streamingAt)
	return !since.IsZero() && now.Sub(since) > m.opts.StallAfter
}

// sample turns the flows' row counters into rates over the last interval.
func (m *Monitor) sample(now time.Time, es flow.Status) {
	totals := make(map[string][2]uint64, len(es.Flows))
	for _, f := range es.Flows {
		totals[f.Name] = [2]uint64{f.RowsIn, f.RowsOut}
	}
	if dt := now.Sub(m.prev.at).Seconds(); !m.prev.at.IsZero() && dt > 0 {
		for name, t := range totals {
			p, ok := m.prev.totals[name]
			if !ok || t[0] < p[0] || t[1] < p[1] {
				continue
			}
			m.rates[name] = rates{in: float64(t[0]-p[0]) / dt, out: float64(t[1]-p[1]) / dt}
		}
	}
	m.prev = sampleState{at: now, totals: totals}
}

// Report is binflow's state now.
func (m *Monitor) Report() Report {
	now := m.opts.now()
	prog, es, attached := m.observe()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackReader(now, prog, es)
	return m.reportLocked(now, prog, es, attached)
}

func (m *Monitor) reportLocked(now time.Time, prog canal.ReadProgressSnapshot, es flow.Status, attached bool) Report {
	r := Report{Time: now, Source: "live", MaxLagSeconds: m.opts.MaxLag.Seconds(), Flows: []Flow{}}
	switch {
	case !attached:
		r.Phase = PhaseStarting
	case es.Streaming:
		r.Phase = PhaseRunning
	case m.ended:
		r.Phase = PhaseStopped
	default:
		r.Phase = PhaseStarting
	}
	r.Upstream = Upstream{ServerID: m.opts.ServerID, Position: position(m.up.pos),
		OldestBinlog: m.up.binlogs.Oldest(), NewestBinlog: m.up.binlogs.Newest(), BinlogFiles: len(m.up.binlogs),
		CheckedAt: m.up.checkedAt}
	for _, f := range m.up.binlogs {
		r.Upstream.BinlogBytes += f.Size
	}
	if m.up.err != nil {
		r.Upstream.Error = m.up.err.Error()
	}

	readerPos := maxPos(es.ReadPos, prog.HeartbeatPos)
	rd := &Reader{Position: position(readerPos), Transactions: es.ReadTxns, Events: prog.Events, Bytes: prog.Bytes,
		Heartbeats: prog.Heartbeats, Reconnects: prog.Reconnects, LastHeartbeatTime: prog.HeartbeatTime, BlockedOn: es.BlockedOn,
		Stalled: m.stalled(now, es)}
	if prog.Activity > 0 {
		rd.LastEventTime = m.lastEventAt
	}
	if !m.up.pos.IsZero() && !readerPos.IsZero() {
		rd.BehindBytes, _ = m.up.binlogs.BytesBetween(readerPos, m.up.pos)
	}
	r.Reader = rd

	for _, fs := range es.Flows {
		l := computeLag(lagInput{flow: fs, readerPos: readerPos, readerCommitTime: es.ReadCommitTime,
			behindSince: m.behindSince, upstreamPos: m.up.pos, binlogs: m.up.binlogs, now: now})
		f := Flow{Name: fs.Name, Tables: fs.Tables, State: string(fs.State), StateSince: fs.StateSince,
			Checkpoint: checkpoint(fs.Checkpoint), LagSeconds: l.seconds, LagBytes: l.bytes, LagBytesKnown: l.bytesKnown,
			CaughtUp: l.caughtUp, RowsInPerSecond: m.rates[fs.Name].in, RowsOutPerSecond: m.rates[fs.Name].out,
			Transactions: fs.Txns, RowsIn: fs.RowsIn, RowsOut: fs.RowsOut, Batches: fs.Batches, Retries: fs.Retries,
			Errors: map[string]uint64{}, QueueTxns: fs.QueueTxns, QueueCapacity: fs.QueueCapacity,
			PendingTxns: fs.PendingTxns, LastCommitTime: fs.LastCommitTime,
			Retention: retention(fs.Name, fs.Checkpoint.Pos, m.up.binlogs)}
		for k, n := range fs.Errors {
			f.Errors[string(k)] = n
		}
		if fs.LastError != "" {
			f.LastError = &Error{Message: fs.LastError, Kind: string(fs.LastErrorKind), Time: fs.LastErrorTime}
		}
		if sn := fs.Snapshot; sn != nil {
			f.Snapshot = &Snapshot{Phase: sn.Phase, Table: sn.Table, Position: position(sn.Position), Rows: sn.Rows,
				RowsEstimate: sn.Estimate, Started: sn.Started, Resumes: sn.Resumes}
		}
		if f.Retention.AtRisk {
			r.Warnings = append(r.Warnings, f.Retention.Message)
		}
		r.Flows = append(r.Flows, f)
	}
	r.Ready, r.NotReady = readiness(r, m.detail, m.opts.MaxLag, now.Sub(latest(m.lastEventAt, m.streamingAt)))
	return r
}

// readiness is /readyz: binflow is streaming, every flow is applying and
// within the lag bound, and the reader is not stalled.
func readiness(r Report, detail string, maxLag time.Duration, quietFor time.Duration) (bool, []string) {
	var why []string
	if r.Phase != PhaseRunning {
		msg := "binflow is " + r.Phase
		if detail != "" {
			msg += ": " + detail
		}
		why = append(why, msg)
	}
	if r.Reader != nil && r.Reader.Stalled {
		why = append(why, fmt.Sprintf("binlog reader stalled: nothing, not even a heartbeat, received from the upstream for %s", quietFor.Round(time.Second)))
	}
	for _, f := range r.Flows {
		switch flow.State(f.State) {
		case flow.StateRunning, flow.StateRetrying:
		default:
			msg := fmt.Sprintf("flow %s is %s", f.Name, f.State)
			if f.LastError != nil && flow.State(f.State) == flow.StateFailed {
				msg += ": " + strings.TrimPrefix(f.LastError.Message, "flow "+f.Name+": ")
			}
			why = append(why, msg)
			continue
		}
		if lagged := time.Duration(f.LagSeconds * float64(time.Second)); lagged > maxLag {
			why = append(why, fmt.Sprintf("flow %s is %s behind the upstream (health.max_lag is %s)", f.Name, lagged.Round(time.Second), maxLag))
		}
	}
	return len(why) == 0, why
}

// changes logs what changed since the last poll: readiness, a reader
// stall, checkpoints at risk of a purge.
func (m *Monitor) changes(r Report) []func() {
	var logs []func()
	log := m.opts.Log
	if stalled := r.Reader != nil && r.Reader.Stalled; stalled != m.stalledLogged {
		m.stalledLogged = stalled
		if stalled {
			logs = append(logs, func() {
				log.Warn().Str("reader_position", r.Reader.Position.String()).Str("upstream_position", r.Upstream.Position.String()).
					Dur("stall_after", m.opts.StallAfter).Msg("binlog reader stalled: no event or heartbeat from the upstream")
			})
		} else {
			logs = append(logs, func() {
				log.Info().Str("reader_position", r.Reader.Position.String()).Msg("binlog reader receiving again")
			})
		}
	}
	for _, f := range r.Flows {
		if f.Retention.AtRisk == m.atRiskLogged[f.Name] {
			continue
		}
		m.atRiskLogged[f.Name] = f.Retention.AtRisk
		f := f
		if f.Retention.AtRisk {
			logs = append(logs, func() {
				log.Warn().Str("flow", f.Name).Str("checkpoint", f.Checkpoint.Position.String()).
					Str("oldest_binlog", r.Upstream.OldestBinlog).Msg(f.Retention.Message)
			})
		} else {
			logs = append(logs, func() {
				log.Info().Str("flow", f.Name).Str("checkpoint", f.Checkpoint.Position.String()).
					Msg("checkpoint no longer in the upstream's oldest binlog")
			})
		}
	}
	if m.readyLogged == nil || *m.readyLogged != r.Ready {
		ready := r.Ready
		m.readyLogged = &ready
		if ready {
			logs = append(logs, func() { log.Info().Msg("ready: every flow applying within health.max_lag") })
		} else if r.Phase == PhaseRunning {
			logs = append(logs, func() { log.Warn().Strs("reasons", r.NotReady).Msg("not ready") })
		}
	}
	return logs
}

func maxPos(a, b schema.Position) schema.Position {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}
