package status

import (
	"fmt"
	"strings"
	"time"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/schema"
)

// OfflineInput is what `binflow status` reads when binflow itself does not
// answer: the configured flows, their checkpoints downstream, and the
// upstream's binlog.
type OfflineInput struct {
	Now time.Time
	// Flows are the configured flow names, in config order.
	Flows       []string
	Checkpoints []connectors.Checkpoint
	// Errors are the flows' last failures recorded downstream
	// (binflow_flow_errors).
	Errors      []connectors.FlowError
	ServerID    uint32
	UpstreamPos schema.Position
	Binlogs     canal.Binlogs
	// UpstreamErr is set when the upstream could not be read.
	UpstreamErr error
	// State is what is known of binflow: StateUnknown (it serves no HTTP
	// endpoint to ask) or StateNotRunning (it does not answer there).
	State string
	// Why says how the state is known, for NotReady.
	Why    string
	MaxLag time.Duration
}

// Offline builds a report from checkpoints and the upstream alone. Lag is
// measured from each checkpoint: 0 when it is at the upstream's end, else
// now minus the commit time of the last transaction the flow applied (an
// upper bound: binflow's own view, live, is sharper).
//
// A flow's last recorded failure is its LastError; the flow is failed while
// that failure is newer than its checkpoint (the checkpoint is still the
// one it failed at, or it has none, so it has not committed since) and
// binflow has not started the flow again since (Resumed).
func Offline(in OfflineInput) Report {
	r := Report{Time: in.Now, Source: "offline", Phase: PhaseUnknown, MaxLagSeconds: in.MaxLag.Seconds(), Flows: []Flow{}}
	if in.State == StateNotRunning {
		r.Phase = PhaseNotRunning
	}
	r.NotReady = []string{in.Why}
	r.Upstream = Upstream{ServerID: in.ServerID, Position: position(in.UpstreamPos),
		OldestBinlog: in.Binlogs.Oldest(), NewestBinlog: in.Binlogs.Newest(), BinlogFiles: len(in.Binlogs), CheckedAt: in.Now}
	for _, f := range in.Binlogs {
		r.Upstream.BinlogBytes += f.Size
	}
	if in.UpstreamErr != nil {
		r.Upstream.Error = in.UpstreamErr.Error()
		r.Upstream.CheckedAt = time.Time{}
	}

	byName := map[string]connectors.Checkpoint{}
	for _, cp := range in.Checkpoints {
		byName[cp.Flow] = cp
	}
	errs := map[string]connectors.FlowError{}
	for _, e := range in.Errors {
		errs[e.Flow] = e
	}
	names := append([]string(nil), in.Flows...)
	configured := map[string]bool{}
	for _, n := range in.Flows {
		configured[n] = true
	}
	for _, cp := range in.Checkpoints {
		if !configured[cp.Flow] {
			names = append(names, cp.Flow)
		}
	}
	for _, name := range names {
		cp, ok := byName[name]
		f := Flow{Name: name, Checkpoint: checkpoint(cp)}
		fe, hasErr := errs[name]
		failed := hasErr && fe.Resumed.IsZero() && (!ok || cp.Pos == fe.Checkpoint)
		if hasErr {
			f.LastError = &Error{Message: fe.Message, Kind: fe.Kind, Time: fe.At}
		}
		if failed && configured[name] {
			r.NotReady = append(r.NotReady, fmt.Sprintf("flow %s is %s since %s: %s", name, flow.StateFailed,
				fe.At.UTC().Format(time.RFC3339), strings.TrimPrefix(fe.Message, "flow "+name+": ")))
		}
		switch {
		case !configured[name] && ok:
			f.State = StateNotConfigured
		case failed:
			f.State = string(flow.StateFailed)
		case !ok:
			f.State = StateNew
		default:
			f.State = in.State
		}
		if !ok {
			r.Flows = append(r.Flows, f)
			continue
		}
		// A state the engine never has: computeLag measures it from its
		// checkpoint alone.
		l := computeLag(lagInput{flow: flow.FlowStatus{Name: name, State: flow.State(f.State), Checkpoint: cp},
			upstreamPos: in.UpstreamPos, binlogs: in.Binlogs, now: in.Now})
		f.LagSeconds, f.LagBytes, f.LagBytesKnown, f.CaughtUp = l.seconds, l.bytes, l.bytesKnown, l.caughtUp
		f.Retention = retention(name, cp.Pos, in.Binlogs)
		if f.Retention.AtRisk {
			r.Warnings = append(r.Warnings, f.Retention.Message)
		}
		r.Flows = append(r.Flows, f)
	}
	return r
}
