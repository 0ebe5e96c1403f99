package cli

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/flow"
)

func TestRateETA(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		status   flow.SnapshotStatus
		elapsed  time.Duration
		wantRate float64
		wantETA  time.Duration
	}{
		{"halfway", flow.SnapshotStatus{Rows: 1000, Estimate: 2000}, 10 * time.Second, 100, 10 * time.Second},
		{"resumed: only this run's rows count", flow.SnapshotStatus{Rows: 1500, Estimate: 2000, ResumedAtRows: 1000}, 5 * time.Second, 100, 5 * time.Second},
		{"past the estimate", flow.SnapshotStatus{Rows: 3000, Estimate: 2000}, 3 * time.Second, 1000, 0},
		{"nothing yet", flow.SnapshotStatus{Estimate: 2000}, time.Second, 0, 0},
		{"no time yet", flow.SnapshotStatus{Rows: 10, Estimate: 2000}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, eta := rateETA(tt.status, start, start.Add(tt.elapsed))
			if rate != tt.wantRate || eta != tt.wantETA {
				t.Errorf("rateETA = %v, %v; want %v, %v", rate, eta, tt.wantRate, tt.wantETA)
			}
		})
	}
}

func TestParseArgsTakesFlagsAnywhere(t *testing.T) {
	tests := []struct {
		args       []string
		positional []string
		config, to string
		yes        bool
	}{
		{[]string{"f", "-c", "x.toml"}, []string{"f"}, "x.toml", "", false},
		{[]string{"-c", "x.toml", "f"}, []string{"f"}, "x.toml", "", false},
		{[]string{"f", "--to", "bin.000001:4", "--yes", "-c", "y.toml"}, []string{"f"}, "y.toml", "bin.000001:4", true},
		{[]string{"a", "b"}, []string{"a", "b"}, "config.toml", "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c := fs.String("c", "config.toml", "")
		to := fs.String("to", "", "")
		yes := fs.Bool("yes", false, "")
		got, err := parseArgs(fs, tt.args)
		if err != nil || !slices.Equal(got, tt.positional) || *c != tt.config || *to != tt.to || *yes != tt.yes {
			t.Errorf("parseArgs(%q) = %q, %v; -c %q --to %q --yes %v", tt.args, got, err, *c, *to, *yes)
		}
	}
	var stderr bytes.Buffer
	if code := checkPositional("verify", nil, &stderr); code != exitConfig || !strings.Contains(stderr.String(), "expected one flow name") {
		t.Errorf("verify without a flow: exit %d, %q", code, stderr.String())
	}
}
