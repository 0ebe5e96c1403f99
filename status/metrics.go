package status

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/binflow/binflow/flow"
)

// metrics are binflow's Prometheus metrics. Counters and gauges are read
// from a Report at scrape time (so they never disagree with /status); the
// histograms are fed by the engine as batches commit.
type metrics struct {
	monitor *Monitor

	commitSeconds *prometheus.HistogramVec
	batchRows     *prometheus.HistogramVec
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	flowLabel  = []string{"flow"}
	descriptor = struct {
		ready, buildInfo *prometheus.Desc

		flowState, flowTxns, flowRowsIn, flowRowsOut, flowBatches, flowRetries, flowErrors       *prometheus.Desc
		flowLagSeconds, flowLagBytes, flowCommitTimestamp, flowCheckpointFile, flowCheckpointPos *prometheus.Desc
		flowQueue, flowQueueCapacity, flowPending, flowRetentionAtRisk                           *prometheus.Desc
		flowSnapshotRows, flowSnapshotEstimate                                                   *prometheus.Desc

		readerTxns, readerEvents, readerBytes, readerHeartbeats, readerReconnects, readerFile, readerPos *prometheus.Desc
		readerBehind, readerStalled, readerBlocked, readerLastEvent                                      *prometheus.Desc

		upstreamUp, upstreamFile, upstreamPos, upstreamFiles, upstreamBytes, upstreamOldestFile *prometheus.Desc
	}{
		ready:     desc("binflow_ready", "1 when every flow is applying within health.max_lag and the binlog reader is not stalled (what /readyz answers)."),
		buildInfo: desc("binflow_build_info", "Always 1; labels carry binflow's version and the Go version it was built with.", "version", "goversion"),

		flowState:            desc("binflow_flow_state", "1 for the flow's current state (starting, snapshotting, catching up, running, retrying, failed, stopped), 0 for the others.", "flow", "state"),
		flowTxns:             desc("binflow_flow_transactions_total", "Upstream transactions the flow has taken (past its checkpoint).", "flow"),
		flowRowsIn:           desc("binflow_flow_rows_in_total", "Row changes of the flow's source tables it has read.", "flow"),
		flowRowsOut:          desc("binflow_flow_rows_out_total", "Row writes (upserts, deletes, deltas) the flow has committed downstream.", "flow"),
		flowBatches:          desc("binflow_flow_batches_total", "Batches the flow has committed downstream.", "flow"),
		flowRetries:          desc("binflow_flow_retries_total", "Downstream writes of the flow that failed transiently and were retried.", "flow"),
		flowErrors:           desc("binflow_flow_errors_total", "Errors of the flow by kind: transient (retried downstream write), downstream (not retryable), function, schema (a schema change stopped the flow), internal.", "flow", "kind"),
		flowLagSeconds:       desc("binflow_flow_lag_seconds", "How far the flow's derived tables are behind the upstream in time: 0 when caught up, else now minus the commit time of the oldest transaction not applied.", "flow"),
		flowLagBytes:         desc("binflow_flow_lag_bytes", "Binlog bytes between the flow's position and the upstream's current position.", "flow"),
		flowCommitTimestamp:  desc("binflow_flow_last_applied_commit_timestamp_seconds", "Upstream commit time (Unix seconds) of the last transaction the flow applied.", "flow"),
		flowCheckpointFile:   desc("binflow_flow_checkpoint_binlog_file_number", "Sequence number of the binlog file of the flow's checkpoint (mysql-bin.000042 is 42).", "flow"),
		flowCheckpointPos:    desc("binflow_flow_checkpoint_binlog_position_bytes", "Offset of the flow's checkpoint in its binlog file.", "flow"),
		flowQueue:            desc("binflow_flow_queue_transactions", "Transactions in the flow's input queue, read but not yet taken.", "flow"),
		flowQueueCapacity:    desc("binflow_flow_queue_capacity_transactions", "Capacity of the flow's input queue (batch.queue_txns); a full queue holds the reader back.", "flow"),
		flowPending:          desc("binflow_flow_pending_transactions", "Transactions in the flow's open batch: taken, not yet committed.", "flow"),
		flowSnapshotRows:     desc("binflow_flow_snapshot_rows", "Rows the flow's snapshot in progress has copied (present while it snapshots).", "flow"),
		flowSnapshotEstimate: desc("binflow_flow_snapshot_rows_estimate", "Rows the flow's snapshot in progress is estimated to copy (information_schema.TABLES).", "flow"),
		flowRetentionAtRisk:  desc("binflow_flow_binlog_retention_at_risk", "1 when the flow's checkpoint is in the upstream's oldest binlog (the next purge removes it) or in one already purged.", "flow"),

		readerTxns:       desc("binflow_reader_transactions_total", "Upstream transactions the binlog reader has handed to the flows."),
		readerEvents:     desc("binflow_reader_events_total", "Binlog events received, heartbeats included."),
		readerBytes:      desc("binflow_reader_bytes_total", "Bytes of binlog events received."),
		readerHeartbeats: desc("binflow_reader_heartbeats_total", "Heartbeats received from the upstream (sent while it has nothing else to send)."),
		readerReconnects: desc("binflow_reader_reconnects_total", "Times the binlog reader reconnected to the upstream after its connection was interrupted."),
		readerFile:       desc("binflow_reader_binlog_file_number", "Sequence number of the binlog file the reader has read up to."),
		readerPos:        desc("binflow_reader_binlog_position_bytes", "Offset in that file the reader has read up to."),
		readerBehind:     desc("binflow_reader_behind_bytes", "Binlog bytes the upstream has that the reader has not read."),
		readerStalled:    desc("binflow_reader_stalled", "1 when the reader has received nothing new, not even a heartbeat, for longer than the stall bound (health.stall_after) while not held back; reconnects alone do not count."),
		readerBlocked:    desc("binflow_reader_blocked", "1 while the reader waits for a full flow queue (backpressure)."),
		readerLastEvent:  desc("binflow_reader_last_event_timestamp_seconds", "When (Unix seconds) the reader last received a heartbeat or binlog it had not received before (not the synthetic events a reconnect starts with)."),

		upstreamUp:         desc("binflow_upstream_up", "1 when the last poll of the upstream's binlog position succeeded."),
		upstreamFile:       desc("binflow_upstream_binlog_file_number", "Sequence number of the upstream's current binlog file."),
		upstreamPos:        desc("binflow_upstream_binlog_position_bytes", "The upstream's current offset in that file (SHOW MASTER STATUS)."),
		upstreamFiles:      desc("binflow_upstream_binlog_files", "Binlog files the upstream has (SHOW BINARY LOGS)."),
		upstreamBytes:      desc("binflow_upstream_binlog_size_bytes", "Total size of the upstream's binlog files."),
		upstreamOldestFile: desc("binflow_upstream_oldest_binlog_file_number", "Sequence number of the upstream's oldest binlog file."),
	}
)

var flowStates = []flow.State{flow.StateStarting, flow.StateSnapshotting, flow.StateCatchingUp, flow.StateRunning, flow.StateRetrying, flow.StateFailed, flow.StateStopped}

func newMetrics(m *Monitor, reg *prometheus.Registry, version string) (*metrics, error) {
	if version == "" {
		version = "dev"
	}
	x := &metrics{
		monitor: m,
		commitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "binflow_flow_batch_commit_duration_seconds",
			Help:    "Time the downstream took to commit one batch with its checkpoint (the successful attempt).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, flowLabel),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "binflow_flow_batch_rows",
			Help:    "Row writes per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 .. 65536
		}, flowLabel),
	}
	build := prometheus.MustNewConstMetric(descriptor.buildInfo, prometheus.GaugeValue, 1, version, runtime.Version())
	for _, c := range []prometheus.Collector{
		x, x.commitSeconds, x.batchRows,
		prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) { ch <- build }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return x, nil
}

func (x *metrics) batchCommitted(flowName string, b flow.BatchStats) {
	x.commitSeconds.WithLabelValues(flowName).Observe(b.CommitTook.Seconds())
	x.batchRows.WithLabelValues(flowName).Observe(float64(b.RowsOut))
}

// Describe sends nothing: the collector is unchecked, because its flows
// (label values) are only known at scrape time.
func (x *metrics) Describe(chan<- *prometheus.Desc) {}

// Collect turns a fresh Report into metrics.
func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	r := x.monitor.Report()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descriptor.ready, boolValue(r.Ready))

	for _, f := range r.Flows {
		for _, s := range flowStates {
			gauge(descriptor.flowState, boolValue(f.State == string(s)), f.Name, string(s))
		}
		counter(descriptor.flowTxns, f.Transactions, f.Name)
		counter(descriptor.flowRowsIn, f.RowsIn, f.Name)
		counter(descriptor.flowRowsOut, f.RowsOut, f.Name)
		counter(descriptor.flowBatches, f.Batches, f.Name)
		counter(descriptor.flowRetries, f.Retries, f.Name)
		for _, k := range flow.ErrorKinds {
			counter(descriptor.flowErrors, f.Errors[string(k)], f.Name, string(k))
		}
		gauge(descriptor.flowLagSeconds, f.LagSeconds, f.Name)
		if f.LagBytesKnown {
			gauge(descriptor.flowLagBytes, float64(f.LagBytes), f.Name)
		}
		if !f.Checkpoint.CommitTime.IsZero() {
			gauge(descriptor.flowCommitTimestamp, float64(f.Checkpoint.CommitTime.UnixNano())/1e9, f.Name)
		}
		if f.Checkpoint.Position.File != "" {
			gauge(descriptor.flowCheckpointFile, fileNumber(f.Checkpoint.Position.File), f.Name)
			gauge(descriptor.flowCheckpointPos, float64(f.Checkpoint.Position.Pos), f.Name)
		}
		gauge(descriptor.flowQueue, float64(f.QueueTxns), f.Name)
		gauge(descriptor.flowQueueCapacity, float64(f.QueueCapacity), f.Name)
		gauge(descriptor.flowPending, float64(f.PendingTxns), f.Name)
		gauge(descriptor.flowRetentionAtRisk, boolValue(f.Retention.AtRisk), f.Name)
		if f.Snapshot != nil {
			gauge(descriptor.flowSnapshotRows, float64(f.Snapshot.Rows), f.Name)
			gauge(descriptor.flowSnapshotEstimate, float64(f.Snapshot.RowsEstimate), f.Name)
		}
	}

	if rd := r.Reader; rd != nil {
		counter(descriptor.readerTxns, rd.Transactions)
		counter(descriptor.readerEvents, rd.Events)
		counter(descriptor.readerBytes, rd.Bytes)
		counter(descriptor.readerHeartbeats, rd.Heartbeats)
		counter(descriptor.readerReconnects, rd.Reconnects)
		if rd.Position.File != "" {
			gauge(descriptor.readerFile, fileNumber(rd.Position.File))
			gauge(descriptor.readerPos, float64(rd.Position.Pos))
		}
		gauge(descriptor.readerBehind, float64(rd.BehindBytes))
		gauge(descriptor.readerStalled, boolValue(rd.Stalled))
		gauge(descriptor.readerBlocked, boolValue(rd.BlockedOn != ""))
		if !rd.LastEventTime.IsZero() {
			gauge(descriptor.readerLastEvent, float64(rd.LastEventTime.UnixNano())/1e9)
		}
	}

	u := r.Upstream
	gauge(descriptor.upstreamUp, boolValue(u.Error == "" && !u.CheckedAt.IsZero()))
	if u.Position.File != "" {
		gauge(descriptor.upstreamFile, fileNumber(u.Position.File))
		gauge(descriptor.upstreamPos, float64(u.Position.Pos))
		gauge(descriptor.upstreamFiles, float64(u.BinlogFiles))
		gauge(descriptor.upstreamBytes, float64(u.BinlogBytes))
		gauge(descriptor.upstreamOldestFile, fileNumber(u.OldestBinlog))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
