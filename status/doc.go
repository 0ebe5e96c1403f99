// Package status tells an operator the truth about binflow: per flow its
// state, checkpoint, lag (in time and in binlog bytes), throughput and last
// error; whether the binlog reader is alive (heartbeats), held back
// (backpressure) or stalled; and whether the upstream is about to purge a
// binlog a checkpoint still needs. It serves this over HTTP — /metrics for
// Prometheus, /healthz, /readyz, /status as JSON and a status page — and
// renders it as text for `binflow status`, also when binflow is not running
// (from the checkpoints alone).
//
// It only observes. It never changes what the engine does, never writes
// downstream, and reads the upstream only with SHOW MASTER STATUS and SHOW
// BINARY LOGS. It keeps no global state: every Monitor has its own
// prometheus.Registry, handed in by the caller.
package status
