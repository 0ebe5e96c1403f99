package status

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/schema"
)

// Report is binflow's state at one instant, as /status and `binflow
// status --json` show it.
type Report struct {
	Time time.Time `json:"time"`
	// Source is "live" (from a running binflow) or "offline" (from the
	// checkpoints and the upstream alone).
	Source string `json:"source"`
	// Phase is "starting", "running" or "stopped"; offline, "unknown".
	Phase string `json:"phase"`
	// Ready is what /readyz answers; NotReady says why not.
	Ready         bool     `json:"ready"`
	NotReady      []string `json:"not_ready,omitempty"`
	MaxLagSeconds float64  `json:"max_lag_seconds"`
	Upstream      Upstream `json:"upstream"`
	// Reader is the binlog reader of a running binflow (nil offline).
	Reader *Reader `json:"reader,omitempty"`
	Flows  []Flow  `json:"flows"`
	// Warnings are problems that do not (yet) stop anything, such as a
	// checkpoint in the binlog the upstream purges next.
	Warnings []string `json:"warnings,omitempty"`
}

// Position is a binlog position.
type Position struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
}

func position(p schema.Position) Position { return Position{File: p.File, Pos: p.Pos} }

func (p Position) String() string {
	if p.File == "" {
		return "-"
	}
	return p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10)
}

// Upstream is what binflow last learnt from the upstream server.
type Upstream struct {
	ServerID uint32 `json:"server_id,omitempty"`
	// Position is the end of its binlog (SHOW MASTER STATUS).
	Position Position `json:"position"`
	// Its binlogs (SHOW BINARY LOGS), oldest and newest, count and bytes.
	OldestBinlog string `json:"oldest_binlog"`
	NewestBinlog string `json:"newest_binlog"`
	BinlogFiles  int    `json:"binlog_files"`
	BinlogBytes  uint64 `json:"binlog_bytes"`
	// CheckedAt is when the above was read; Error is set when the latest
	// attempt failed (the values are then the last known ones).
	CheckedAt time.Time `json:"checked_at"`
	Error     string    `json:"error,omitempty"`
}

// Reader is the binlog reader of a running binflow.
type Reader struct {
	// Position is how far it has read: the end of the last transaction
	// handed to the flows, or the upstream position of the latest heartbeat
	// if that is later (binlog events that are not transactions).
	Position Position `json:"position"`
	// BehindBytes is how many binlog bytes the upstream has that the
	// reader has not read yet.
	BehindBytes uint64 `json:"behind_bytes"`
	// Counters since the process started.
	Transactions uint64 `json:"transactions"`
	Events       uint64 `json:"events"`
	Bytes        uint64 `json:"bytes"`
	Heartbeats   uint64 `json:"heartbeats"`
	// Reconnects counts the connections made after one was interrupted.
	Reconnects uint64 `json:"reconnects"`
	// LastEventTime is when a heartbeat or binlog not received before last
	// arrived (to a second or so; the synthetic events a reconnect starts
	// with do not count); LastHeartbeatTime the latest heartbeat.
	LastEventTime     time.Time `json:"last_event_time,omitzero"`
	LastHeartbeatTime time.Time `json:"last_heartbeat_time,omitzero"`
	// Stalled is true when nothing, not even a heartbeat, has arrived for
	// longer than the stall bound while the reader was not held back.
	Stalled bool `json:"stalled"`
	// BlockedOn names the flow whose full queue holds the reader back
	// (backpressure), if any.
	BlockedOn string `json:"blocked_on,omitempty"`
}

// Flow is one flow.
type Flow struct {
	Name       string     `json:"name"`
	Tables     []string   `json:"tables,omitempty"`
	State      string     `json:"state"`
	StateSince time.Time  `json:"state_since,omitzero"`
	Checkpoint Checkpoint `json:"checkpoint"`
	// LagSeconds is how far the flow's derived tables are behind the
	// upstream in time: 0 when it has applied everything the upstream has,
	// else now minus the upstream commit time of the oldest transaction it
	// has not applied (or a close upper bound where that one is not read
	// yet). LagBytes is the binlog between its position and the upstream's
	// end; LagBytesKnown is false when that cannot be measured (its binlog
	// file is gone from the upstream).
	LagSeconds    float64 `json:"lag_seconds"`
	LagBytes      uint64  `json:"lag_bytes"`
	LagBytesKnown bool    `json:"lag_bytes_known"`
	CaughtUp      bool    `json:"caught_up"`
	// Throughput over the last sampling interval, live only.
	RowsInPerSecond  float64 `json:"rows_in_per_second"`
	RowsOutPerSecond float64 `json:"rows_out_per_second"`
	// Counters since the process started, live only.
	Transactions uint64            `json:"transactions"`
	RowsIn       uint64            `json:"rows_in"`
	RowsOut      uint64            `json:"rows_out"`
	Batches      uint64            `json:"batches"`
	Retries      uint64            `json:"retries"`
	Errors       map[string]uint64 `json:"errors,omitempty"`
	// Queue is the flow's input queue (transactions read, not taken);
	// Pending the open batch (taken, not committed).
	QueueTxns      int       `json:"queue_transactions"`
	QueueCapacity  int       `json:"queue_capacity"`
	PendingTxns    int       `json:"pending_transactions"`
	LastCommitTime time.Time `json:"last_commit_time,omitzero"`
	LastError      *Error    `json:"last_error,omitempty"`
	Retention      Retention `json:"retention"`
	// Snapshot is the flow's snapshot while it copies the rows its tables
	// already hold (a new flow, or a rebuild), live only.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// Snapshot is a flow's snapshot in progress.
type Snapshot struct {
	Phase        string    `json:"phase"` // "catching up" (a resumed snapshot) or "copying"
	Table        string    `json:"table,omitempty"`
	Position     Position  `json:"position"`
	Rows         uint64    `json:"rows"`
	RowsEstimate uint64    `json:"rows_estimate"`
	Started      time.Time `json:"started"`
	Resumes      int       `json:"resumes,omitempty"`
}

// Checkpoint is a flow's committed checkpoint.
type Checkpoint struct {
	Position Position `json:"position"`
	GTID     string   `json:"gtid,omitempty"`
	// CommitTime is the upstream commit time of the last transaction the
	// flow applied (zero for a checkpoint no transaction has moved yet).
	CommitTime time.Time `json:"commit_time,omitzero"`
}

// Error is a flow's latest error.
type Error struct {
	Message string    `json:"message"`
	Kind    string    `json:"kind,omitempty"`
	Time    time.Time `json:"time"`
}

// Retention compares a checkpoint with the binlogs the upstream still has.
type Retention struct {
	// AtRisk is true when the checkpoint's binlog file is the upstream's
	// oldest (the next purge or expiry removes it) or already gone: binflow
	// could then not resume the flow after a restart.
	AtRisk  bool   `json:"at_risk"`
	Purged  bool   `json:"purged,omitempty"`
	Message string `json:"message,omitempty"`
}

// Phases of a binflow process.
const (
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseStopped  = "stopped"
	// Offline only: binflow does not answer, or cannot be asked.
	PhaseNotRunning = "not running"
	PhaseUnknown    = "unknown"
)

// Flow states seen only in offline reports, besides flow.State values.
const (
	StateNew           = "new"            // configured, no checkpoint yet
	StateUnknown       = "unknown"        // has a checkpoint; whether binflow runs is not known
	StateNotRunning    = "not running"    // has a checkpoint; binflow does not answer
	StateNotConfigured = "not configured" // a checkpoint of a flow the config no longer has
)

// retention tells whether the upstream is about to lose, or has lost, the
// binlog file a checkpoint points into.
func retention(flowName string, cp schema.Position, files canal.Binlogs) Retention {
	if cp.File == "" || len(files) == 0 {
		return Retention{}
	}
	oldest, newest := files.Oldest(), files.Newest()
	const advice = "keep binlogs longer (binlog_expire_logs_seconds, expire_logs_days) or make sure binflow keeps up"
	switch {
	case files.Has(cp.File) && cp.File == oldest && oldest != newest:
		return Retention{AtRisk: true, Message: fmt.Sprintf(
			"flow %s: checkpoint %s is in %s, the oldest binlog the upstream has: the next PURGE BINARY LOGS or binlog expiry removes it, and binflow could not resume the flow after a restart; %s",
			flowName, cp, oldest, advice)}
	case files.Has(cp.File):
		return Retention{}
	case schema.Position{File: cp.File}.Compare(schema.Position{File: oldest}) < 0:
		return Retention{AtRisk: true, Purged: true, Message: fmt.Sprintf(
			"flow %s: checkpoint %s is in a binlog the upstream has purged (its oldest is %s): binflow cannot resume the flow after a restart; rebuild its derived tables from a fresh snapshot and reset its checkpoint, and %s",
			flowName, cp, oldest, advice)}
	default:
		return Retention{AtRisk: true, Purged: true, Message: fmt.Sprintf(
			"flow %s: checkpoint %s names a binlog the upstream does not have (it has %s to %s): the checkpoint belongs to another server or the upstream's binlogs were reset",
			flowName, cp, oldest, newest)}
	}
}

// lagInput is what the lag of one flow is computed from.
type lagInput struct {
	flow flow.FlowStatus
	// The reader: how far it has read and the commit time of the last
	// transaction it read; behindSince is when the upstream was first seen
	// ahead of it (zero while it is not).
	readerPos        schema.Position
	readerCommitTime time.Time
	behindSince      time.Time
	// The upstream's end and binlogs, as last known (upstreamPos zero if
	// never read).
	upstreamPos schema.Position
	binlogs     canal.Binlogs
	now         time.Time
}

type lag struct {
	seconds    float64
	bytes      uint64
	bytesKnown bool
	caughtUp   bool
}

// computeLag measures how far one flow is behind the upstream.
//
// A flow that is applying, whose queue and open batch are empty, has seen
// everything the reader read, so it is as far as the reader. It is caught up
// (lag 0) when that is the upstream's end; an idle upstream therefore never
// looks lagging. Otherwise its lag is now minus the commit time of the
// oldest transaction it has not applied: known exactly when that one is in
// its open batch; when the reader has not read it yet, bounded by the
// latest commit the flow or the reader has seen and by when the upstream was
// first seen ahead of the reader, so that the first transaction after an
// idle hour does not read as an hour of lag.
func computeLag(in lagInput) lag {
	f := in.flow
	applying := f.State == flow.StateRunning || f.State == flow.StateRetrying
	pos := f.Checkpoint.Pos
	drained := applying && f.PendingTxns == 0 && f.QueueTxns == 0
	if drained && in.readerPos.Compare(pos) > 0 {
		pos = in.readerPos
	}
	// A flow that holds transactions it has not committed is behind, even
	// where the upstream position (polled now and then) looks older.
	holding := f.PendingTxns > 0 || (applying && f.QueueTxns > 0)
	var l lag
	if in.upstreamPos.IsZero() {
		// Nothing known of the upstream yet: only what the flow holds counts.
		l.caughtUp = drained
	} else {
		l.bytes, l.bytesKnown = in.binlogs.BytesBetween(pos, in.upstreamPos)
		l.caughtUp = !holding && pos.Compare(in.upstreamPos) >= 0
		if pos.Compare(in.upstreamPos) >= 0 {
			l.bytes, l.bytesKnown = 0, true
		}
	}
	if l.caughtUp {
		return l
	}
	var since time.Time
	switch {
	case f.PendingTxns > 0 && !f.OldestPendingCommit.IsZero():
		since = f.OldestPendingCommit
	case !applying:
		// Not applying: what follows its checkpoint waits; the last
		// applied commit bounds the lag from above.
		since = f.Checkpoint.CommitTime
		if since.IsZero() {
			since = f.StateSince
		}
	default:
		since = latest(f.Checkpoint.CommitTime, in.readerCommitTime, in.behindSince)
	}
	if !since.IsZero() && in.now.After(since) {
		l.seconds = in.now.Sub(since).Seconds()
	}
	return l
}

func latest(ts ...time.Time) time.Time {
	var t time.Time
	for _, x := range ts {
		if x.After(t) {
			t = x
		}
	}
	return t
}

func checkpoint(cp connectors.Checkpoint) Checkpoint {
	return Checkpoint{Position: position(cp.Pos), GTID: cp.GTID, CommitTime: cp.CommitTime}
}

// fileNumber is the sequence number of a binlog file name ("mysql-bin.000042"
// is 42), for metrics; 0 when the name has none.
func fileNumber(name string) float64 {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return 0
	}
	n, err := strconv.ParseUint(name[dot+1:], 10, 64)
	if err != nil {
		return 0
	}
	return float64(n)
}
