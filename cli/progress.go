package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/schollz/progressbar/v3"

	"github.com/binflow/binflow/flow"
)

// snapshotProgress shows the progress of snapshots: a progress bar when
// stderr is a terminal (rows done of the estimate, rate, ETA, over every
// flow snapshotting), a log line per flow every interval otherwise.
type snapshotProgress struct {
	log      zerolog.Logger
	interval time.Duration
	bar      io.Writer // the terminal, nil for log lines

	mu    sync.Mutex
	flows map[string]*flowSnapshot
}

type flowSnapshot struct {
	status    flow.SnapshotStatus
	runStart  time.Time // when this process began (or resumed) it
	lastShown time.Time
}

func newSnapshotProgress(log zerolog.Logger, interval time.Duration, stderr io.Writer) *snapshotProgress {
	p := &snapshotProgress{log: log, interval: interval, flows: map[string]*flowSnapshot{}}
	if isTerminal(stderr) {
		p.bar = stderr
	}
	return p
}

// update is flow.SnapshotOptions.Progress: it records, the display runs on
// its own goroutine.
func (p *snapshotProgress) update(s flow.SnapshotStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.flows[s.Flow]
	if !ok {
		f = &flowSnapshot{runStart: time.Now(), lastShown: time.Now()}
		p.flows[s.Flow] = f
	}
	f.status = s
	if s.Phase == flow.SnapshotDone {
		delete(p.flows, s.Flow)
		rate, _ := rateETA(s, f.runStart, time.Now())
		p.log.Info().Str("flow", s.Flow).Uint64("rows", s.Rows).Float64("rows_per_second", rate).
			Dur("took", time.Since(f.runStart).Round(time.Millisecond)).Msg("snapshot progress: done")
	}
}

// rateETA is the rows per second of this run and the time left at that rate
// (0 when unknown).
func rateETA(s flow.SnapshotStatus, runStart, now time.Time) (float64, time.Duration) {
	elapsed := now.Sub(runStart).Seconds()
	done := float64(s.Rows - min(s.ResumedAtRows, s.Rows))
	if elapsed <= 0 || done <= 0 {
		return 0, 0
	}
	rate := done / elapsed
	left := float64(s.Estimate) - float64(s.Rows)
	if left <= 0 {
		return rate, 0
	}
	return rate, time.Duration(left / rate * float64(time.Second))
}

// run displays progress until ctx ends.
func (p *snapshotProgress) run(ctx context.Context) {
	every := p.interval
	if p.bar != nil {
		every = 250 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var bar *progressbar.ProgressBar
	defer func() {
		if bar != nil {
			_ = bar.Clear()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		p.mu.Lock()
		active := make([]flowSnapshot, 0, len(p.flows))
		for _, name := range slices.Sorted(maps.Keys(p.flows)) {
			f := p.flows[name]
			active = append(active, *f)
			if p.bar == nil && now.Sub(f.lastShown) >= p.interval {
				f.lastShown = now
				p.logLine(*f, now)
			}
		}
		p.mu.Unlock()
		if p.bar == nil {
			continue
		}
		if len(active) == 0 {
			if bar != nil {
				_ = bar.Finish()
				bar = nil
			}
			continue
		}
		var done, total uint64
		names := make([]string, len(active))
		for i, f := range active {
			done += f.status.Rows
			total += max(f.status.Estimate, f.status.Rows)
			names[i] = f.status.Flow
			if f.status.Table != "" {
				names[i] += " (" + f.status.Table + ")"
			}
		}
		if bar == nil {
			bar = progressbar.NewOptions64(int64(max(total, 1)), progressbar.OptionSetWriter(p.bar),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
		}
		bar.ChangeMax64(int64(max(total, 1)))
		bar.Describe("snapshot " + strings.Join(names, ", "))
		_ = bar.Set64(int64(done))
	}
}

func (p *snapshotProgress) logLine(f flowSnapshot, now time.Time) {
	s := f.status
	rate, eta := rateETA(s, f.runStart, now)
	ev := p.log.Info().Str("flow", s.Flow).Str("phase", s.Phase).Str("table", s.Table).
		Uint64("rows_done", s.Rows).Uint64("rows_estimate", s.Estimate).Float64("rows_per_second", float64(int64(rate)))
	if s.Estimate > 0 {
		ev = ev.Str("percent", fmt.Sprintf("%.1f", 100*float64(min(s.Rows, s.Estimate))/float64(s.Estimate)))
	}
	if eta > 0 {
		ev = ev.Dur("eta", eta.Round(time.Second))
	}
	if s.Resumes > 0 {
		ev = ev.Int("resumes", s.Resumes).Uint64("resumed_at_rows", s.ResumedAtRows)
	}
	ev.Msg("snapshot progress")
}
