package status

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/schema"
)

var (
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	binlogs = canal.Binlogs{{Name: "bin.000001", Size: 1000}, {Name: "bin.000002", Size: 2000}, {Name: "bin.000003", Size: 500}}
)

func at(file string, pos uint32) schema.Position { return schema.Position{File: file, Pos: pos} }

func ago(d time.Duration) time.Time { return t0.Add(-d) }

func TestComputeLag(t *testing.T) {
	running := func(cp schema.Position, commit time.Time) flow.FlowStatus {
		return flow.FlowStatus{Name: "f", State: flow.StateRunning, StateSince: ago(time.Hour),
			Checkpoint: connectors.Checkpoint{Pos: cp, CommitTime: commit}}
	}
	with := func(f flow.FlowStatus, change func(*flow.FlowStatus)) flow.FlowStatus { change(&f); return f }
	upEnd := at("bin.000003", 400)
	tests := []struct {
		name string
		in   lagInput
		want lag
	}{
		{"idle upstream, flow at its end: caught up",
			lagInput{flow: running(upEnd, ago(time.Hour)), readerPos: upEnd, upstreamPos: upEnd},
			lag{caughtUp: true, bytesKnown: true}},
		{"rotated binlog with no transaction since: the heartbeat brings the reader to the end",
			lagInput{flow: running(at("bin.000002", 1900), ago(time.Hour)), readerPos: upEnd, upstreamPos: upEnd},
			lag{caughtUp: true, bytesKnown: true}},
		{"open batch: lag since its first transaction, bytes from the checkpoint",
			lagInput{flow: with(running(at("bin.000003", 100), ago(time.Hour)), func(f *flow.FlowStatus) {
				f.PendingTxns, f.OldestPendingCommit = 5, ago(3*time.Second)
			}), readerPos: upEnd, upstreamPos: upEnd},
			lag{seconds: 3, bytes: 300, bytesKnown: true}},
		{"open batch past a stale upstream position is still behind",
			lagInput{flow: with(running(upEnd, ago(time.Hour)), func(f *flow.FlowStatus) {
				f.PendingTxns, f.OldestPendingCommit = 1, ago(2*time.Second)
			}), readerPos: at("bin.000003", 450), upstreamPos: upEnd},
			lag{seconds: 2, bytesKnown: true}},
		{"first transaction after an idle hour is not an hour of lag",
			lagInput{flow: running(at("bin.000003", 100), ago(time.Hour)), readerPos: at("bin.000003", 100),
				readerCommitTime: ago(time.Hour), behindSince: ago(time.Second), upstreamPos: upEnd},
			lag{seconds: 1, bytes: 300, bytesKnown: true}},
		{"reader stalled for a minute under load",
			lagInput{flow: running(at("bin.000002", 100), ago(time.Minute)), readerPos: at("bin.000002", 100),
				readerCommitTime: ago(time.Minute), behindSince: ago(50 * time.Minute), upstreamPos: upEnd},
			lag{seconds: 60, bytes: 1900 + 400, bytesKnown: true}},
		{"queued transactions: not caught up, bounded by the reader's latest commit",
			lagInput{flow: with(running(at("bin.000003", 100), ago(time.Hour)), func(f *flow.FlowStatus) { f.QueueTxns = 2 }),
				readerPos: upEnd, readerCommitTime: ago(500 * time.Millisecond), upstreamPos: upEnd},
			lag{seconds: 0.5, bytes: 300, bytesKnown: true}},
		{"failed flow keeps growing from its open batch",
			lagInput{flow: with(running(at("bin.000002", 100), ago(time.Hour)), func(f *flow.FlowStatus) {
				f.State, f.PendingTxns, f.OldestPendingCommit = flow.StateFailed, 3, ago(40*time.Second)
			}), readerPos: upEnd, readerCommitTime: t0, upstreamPos: upEnd},
			lag{seconds: 40, bytes: 1900 + 400, bytesKnown: true}},
		{"failed flow never takes the reader's position",
			lagInput{flow: with(running(at("bin.000002", 100), ago(20*time.Second)), func(f *flow.FlowStatus) { f.State = flow.StateFailed }),
				readerPos: upEnd, readerCommitTime: t0, upstreamPos: upEnd},
			lag{seconds: 20, bytes: 2300, bytesKnown: true}},
		{"checkpoint in a purged file: bytes unknown",
			lagInput{flow: with(running(at("bin.000000", 100), ago(time.Minute)), func(f *flow.FlowStatus) { f.State = flow.StateStarting }),
				upstreamPos: upEnd},
			lag{seconds: 60}},
		{"upstream not read yet: a drained flow counts as caught up",
			lagInput{flow: running(at("bin.000002", 100), ago(time.Hour))},
			lag{caughtUp: true}},
		{"commit time in the future (clock skew) is no negative lag",
			lagInput{flow: with(running(at("bin.000003", 100), t0), func(f *flow.FlowStatus) {
				f.PendingTxns, f.OldestPendingCommit = 1, t0.Add(time.Second)
			}), upstreamPos: upEnd},
			lag{bytes: 300, bytesKnown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.binlogs, tt.in.now = binlogs, t0
			got := computeLag(tt.in)
			if math.Abs(got.seconds-tt.want.seconds) > 1e-9 || got.bytes != tt.want.bytes || got.bytesKnown != tt.want.bytesKnown || got.caughtUp != tt.want.caughtUp {
				t.Errorf("computeLag = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name         string
		cp           schema.Position
		files        canal.Binlogs
		atRisk       bool
		purged       bool
		wantInReason string
	}{
		{"in the newest file", at("bin.000003", 4), binlogs, false, false, ""},
		{"in a middle file", at("bin.000002", 4), binlogs, false, false, ""},
		{"in the oldest file: the next purge removes it", at("bin.000001", 400), binlogs, true, false, "the oldest binlog the upstream has"},
		{"the only file cannot be purged", at("bin.000001", 400), binlogs[:1], false, false, ""},
		{"already purged", at("bin.000000", 4), binlogs, true, true, "purged (its oldest is bin.000001)"},
		{"newer than the newest: another server", at("bin.000009", 4), binlogs, true, true, "another server"},
		{"binlog off or not read", at("bin.000001", 4), nil, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retention("f", tt.cp, tt.files)
			if got.AtRisk != tt.atRisk || got.Purged != tt.purged || !strings.Contains(got.Message, tt.wantInReason) {
				t.Errorf("retention = %+v, want at risk %v, purged %v, message with %q", got, tt.atRisk, tt.purged, tt.wantInReason)
			}
			if got.AtRisk && !strings.HasPrefix(got.Message, "flow f: checkpoint "+tt.cp.String()) {
				t.Errorf("message %q does not name the flow and its checkpoint", got.Message)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	ok := Flow{Name: "a", State: "running"}
	tests := []struct {
		name   string
		report Report
		detail string
		want   []string
	}{
		{"all applying, within the bound", Report{Phase: PhaseRunning, Reader: &Reader{}, Flows: []Flow{ok, {Name: "b", State: "retrying", LagSeconds: 29}}}, "", nil},
		{"starting", Report{Phase: PhaseStarting, Flows: []Flow{ok}}, "connecting to the downstream",
			[]string{"binflow is starting: connecting to the downstream"}},
		{"a failed flow", Report{Phase: PhaseRunning, Flows: []Flow{ok, {Name: "b", State: "failed",
			LastError: &Error{Message: "flow b: commit batch at bin.000001:4 to t: table missing"}}}}, "",
			[]string{"flow b is failed: commit batch at bin.000001:4 to t: table missing"}},
		{"lag over the bound", Report{Phase: PhaseRunning, Flows: []Flow{ok, {Name: "b", State: "retrying", LagSeconds: 31}}}, "",
			[]string{"flow b is 31s behind the upstream (health.max_lag is 30s)"}},
		{"stalled reader", Report{Phase: PhaseRunning, Reader: &Reader{Stalled: true}, Flows: []Flow{ok}}, "",
			[]string{"binlog reader stalled: nothing, not even a heartbeat, received from the upstream for 20s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := readiness(tt.report, tt.detail, 30*time.Second, 20*time.Second)
			if ready != (len(tt.want) == 0) || strings.Join(why, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("readiness = %v %q, want %q", ready, why, tt.want)
			}
		})
	}
}

func TestOfflineReport(t *testing.T) {
	r := Offline(OfflineInput{
		Now:   t0,
		Flows: []string{"caught_up", "behind", "fresh"},
		Checkpoints: []connectors.Checkpoint{
			{Flow: "behind", Pos: at("bin.000001", 900), CommitTime: ago(90 * time.Second)},
			{Flow: "caught_up", Pos: at("bin.000003", 400), CommitTime: ago(time.Hour)},
			{Flow: "removed", Pos: at("bin.000003", 100)},
		},
		UpstreamPos: at("bin.000003", 400), Binlogs: binlogs, State: StateNotRunning,
		Why: "binflow does not answer", MaxLag: 30 * time.Second,
	})
	if r.Ready || r.Phase != PhaseNotRunning || len(r.NotReady) != 1 {
		t.Errorf("offline report is ready %v, phase %q, reasons %q", r.Ready, r.Phase, r.NotReady)
	}
	type row struct {
		name, state string
		lag         float64
		bytes       uint64
		atRisk      bool
	}
	want := []row{
		{"caught_up", StateNotRunning, 0, 0, false},
		{"behind", StateNotRunning, 90, 100 + 2000 + 400, true},
		{"fresh", StateNew, 0, 0, false},
		{"removed", StateNotConfigured, 0, 300, false},
	}
	if len(r.Flows) != len(want) {
		t.Fatalf("flows %+v, want %d", r.Flows, len(want))
	}
	for i, w := range want {
		f := r.Flows[i]
		if got := (row{f.Name, f.State, f.LagSeconds, f.LagBytes, f.Retention.AtRisk}); got != w {
			t.Errorf("flow %d = %+v, want %+v", i, got, w)
		}
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "flow behind") {
		t.Errorf("warnings %q, want one about flow behind", r.Warnings)
	}
	var b strings.Builder
	if err := WriteText(&b, r, "offline"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"binflow: not running, not ready (offline)", "behind", "bin.000001:900", "1m30s", "2.4 KiB", "warnings:"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text does not show %q:\n%s", want, b.String())
		}
	}
}

// Offline, a flow's recorded failure is its last error, with its time; the
// flow is failed while its checkpoint is the one it failed at (or it has
// none), and no longer once it has committed since.
func TestOfflineReportShowsLastErrors(t *testing.T) {
	failedAt := t0.Add(-10 * time.Minute)
	r := Offline(OfflineInput{
		Now:   t0,
		Flows: []string{"stopped", "recovered", "in_snapshot", "fine", "restarted"},
		Checkpoints: []connectors.Checkpoint{
			{Flow: "stopped", Pos: at("bin.000003", 100)},
			{Flow: "recovered", Pos: at("bin.000003", 400)},
			{Flow: "fine", Pos: at("bin.000003", 400)},
			{Flow: "restarted", Pos: at("bin.000003", 100)},
		},
		Errors: []connectors.FlowError{
			{Flow: "stopped", Kind: "downstream", Message: "flow stopped: commit batch at bin.000003:200 to t: table missing", At: failedAt,
				Checkpoint: at("bin.000003", 100)},
			{Flow: "recovered", Kind: "function", Message: "flow recovered: boom", At: failedAt, Checkpoint: at("bin.000003", 100)},
			{Flow: "in_snapshot", Kind: "internal", Message: "flow in_snapshot: table shop.t has no primary key", At: failedAt},
			// Started again since, with nothing to commit: not failed.
			{Flow: "restarted", Kind: "downstream", Message: "flow restarted: gone", At: failedAt, Checkpoint: at("bin.000003", 100),
				Resumed: failedAt.Add(time.Minute)},
		},
		UpstreamPos: at("bin.000003", 400), Binlogs: binlogs, State: StateUnknown, Why: "no [http] listen", MaxLag: 30 * time.Second,
	})
	want := map[string]string{"stopped": "failed", "recovered": StateUnknown, "in_snapshot": "failed", "fine": StateUnknown, "restarted": StateUnknown}
	for _, f := range r.Flows {
		if f.State != want[f.Name] {
			t.Errorf("flow %s: state %q, want %q", f.Name, f.State, want[f.Name])
		}
		if hasErr := f.Name != "fine"; (f.LastError != nil) != hasErr || (hasErr && !f.LastError.Time.Equal(failedAt)) {
			t.Errorf("flow %s: last error %+v", f.Name, f.LastError)
		}
	}
	if f := r.Flows[0]; f.LastError.Kind != "downstream" || !strings.Contains(f.LastError.Message, "table missing") || f.LagBytes != 300 {
		t.Errorf("flow stopped: %+v, last error %+v", f, f.LastError)
	}
	wantWhy := []string{"no [http] listen",
		"flow stopped is failed since " + failedAt.Format(time.RFC3339) + ": commit batch at bin.000003:200 to t: table missing",
		"flow in_snapshot is failed since " + failedAt.Format(time.RFC3339) + ": table shop.t has no primary key"}
	if strings.Join(r.NotReady, "\n") != strings.Join(wantWhy, "\n") {
		t.Errorf("not ready: %q, want %q", r.NotReady, wantWhy)
	}
	var b strings.Builder
	if err := WriteText(&b, r, "offline"); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"flow stopped: last error (downstream, at " + failedAt.Format(time.RFC3339) + ", 10m0s ago): flow stopped: commit batch at bin.000003:200 to t: table missing",
		"flow recovered: last error (function, at " + failedAt.Format(time.RFC3339) + ", 10m0s ago): flow recovered: boom",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("text does not say %q:\n%s", line, b.String())
		}
	}
	if line := flowTextLine(b.String(), "stopped"); !strings.Contains(line, " failed ") {
		t.Errorf("text line of flow stopped: %q", line)
	}
}

func flowTextLine(text, name string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatBytes(0), "0 B"},
		{formatBytes(1023), "1023 B"},
		{formatBytes(1536), "1.5 KiB"},
		{formatBytes(5 << 30), "5.0 GiB"},
		{formatSeconds(0), "0s"},
		{formatSeconds(0.25), "250ms"},
		{formatSeconds(12.34), "12.3s"},
		{formatSeconds(3725), "1h2m5s"},
		{position(at("bin.000001", 4)).String(), "bin.000001:4"},
		{Position{}.String(), "-"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for name, want := range map[string]float64{"mysql-bin.000042": 42, "x.1000000": 1000000, "nodot": 0, "a.b": 0} {
		if got := fileNumber(name); got != want {
			t.Errorf("fileNumber(%q) = %v, want %v", name, got, want)
		}
	}
}
