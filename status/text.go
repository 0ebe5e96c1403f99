package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText renders a report for a terminal: a summary, one line per flow,
// then errors and warnings.
func WriteText(w io.Writer, r Report, from string) error {
	var b strings.Builder
	readiness := "not ready"
	if r.Ready {
		readiness = "ready"
	}
	fmt.Fprintf(&b, "binflow: %s, %s (%s)\n", r.Phase, readiness, from)
	for _, why := range r.NotReady {
		fmt.Fprintf(&b, "  - %s\n", why)
	}
	u := r.Upstream
	if u.Error != "" {
		fmt.Fprintf(&b, "upstream: cannot read its binlog: %s\n", u.Error)
	} else {
		fmt.Fprintf(&b, "upstream: server_id %d at %s; binlogs %s … %s (%d files, %s)\n",
			u.ServerID, u.Position, orDash(u.OldestBinlog), orDash(u.NewestBinlog), u.BinlogFiles, formatBytes(u.BinlogBytes))
	}
	if rd := r.Reader; rd != nil {
		fmt.Fprintf(&b, "reader:   at %s, %s behind", rd.Position, formatBytes(rd.BehindBytes))
		if !rd.LastHeartbeatTime.IsZero() {
			fmt.Fprintf(&b, ", last heartbeat %s ago", r.Time.Sub(rd.LastHeartbeatTime).Round(time.Second))
		}
		if rd.Stalled {
			b.WriteString(", STALLED")
		}
		if rd.BlockedOn != "" {
			fmt.Fprintf(&b, ", waiting for flow %s (backpressure)", rd.BlockedOn)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tSTATE\tCHECKPOINT\tLAST APPLIED COMMIT\tLAG\tBEHIND\tROWS IN\tROWS OUT")
	for _, f := range r.Flows {
		lag, behind := "-", "-"
		if f.State != StateNew {
			lag = formatSeconds(f.LagSeconds)
			if f.CaughtUp {
				lag = "0s (caught up)"
			}
			if f.LagBytesKnown {
				behind = formatBytes(f.LagBytes)
			}
		}
		committed := "-"
		if !f.Checkpoint.CommitTime.IsZero() {
			committed = f.Checkpoint.CommitTime.UTC().Format(time.RFC3339)
		}
		rowsIn, rowsOut := "-", "-"
		if r.Source == "live" {
			rowsIn, rowsOut = strconv.FormatUint(f.RowsIn, 10), strconv.FormatUint(f.RowsOut, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.State, f.Checkpoint.Position, committed, lag, behind, rowsIn, rowsOut)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Flows {
		if sn := f.Snapshot; sn != nil {
			fmt.Fprintf(&b, "\nflow %s: snapshot %s %s: %d of ~%d rows (view at %s, started %s ago)\n", f.Name, sn.Phase, sn.Table,
				sn.Rows, max(sn.RowsEstimate, sn.Rows), sn.Position, r.Time.Sub(sn.Started).Round(time.Second))
		}
		if f.LastError != nil {
			fmt.Fprintf(&b, "\nflow %s: last error (%s, at %s, %s ago): %s\n", f.Name, f.LastError.Kind,
				f.LastError.Time.UTC().Format(time.RFC3339), r.Time.Sub(f.LastError.Time).Round(time.Second), f.LastError.Message)
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
