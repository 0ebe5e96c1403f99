package status

import (
	"sync"
	"time"
)

// History is the recent throughput and lag of every flow, one sample per
// poll, for the status page's chart.
type History struct {
	IntervalSeconds float64  `json:"interval_seconds"`
	WindowSeconds   float64  `json:"window_seconds"` // how far back samples are kept
	Samples         []Sample `json:"samples"`
}

// Sample is every flow at one instant.
type Sample struct {
	// Time in Unix milliseconds.
	Time  int64                 `json:"t"`
	Flows map[string]FlowSample `json:"flows"`
}

// FlowSample is one flow in a Sample.
type FlowSample struct {
	RowsInPerSecond  float64 `json:"in"`
	RowsOutPerSecond float64 `json:"out"`
	LagSeconds       float64 `json:"lag"`
}

// history is a ring of the latest samples.
type history struct {
	mu      sync.Mutex
	samples []Sample
	next    int
	full    bool
}

func newHistory(size int) *history {
	return &history{samples: make([]Sample, max(size, 2))}
}

func (h *history) add(at time.Time, flows []Flow) {
	s := Sample{Time: at.UnixMilli(), Flows: make(map[string]FlowSample, len(flows))}
	for _, f := range flows {
		s.Flows[f.Name] = FlowSample{RowsInPerSecond: f.RowsInPerSecond, RowsOutPerSecond: f.RowsOutPerSecond, LagSeconds: f.LagSeconds}
	}
	h.mu.Lock()
	h.samples[h.next] = s
	h.next = (h.next + 1) % len(h.samples)
	if h.next == 0 {
		h.full = true
	}
	h.mu.Unlock()
}

// since returns the samples taken after the Unix millisecond time, oldest first.
func (h *history) since(afterMillis int64) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ordered []Sample
	if h.full {
		ordered = append(ordered, h.samples[h.next:]...)
	}
	ordered = append(ordered, h.samples[:h.next]...)
	out := []Sample{}
	for _, s := range ordered {
		if s.Time > afterMillis {
			out = append(out, s)
		}
	}
	return out
}

// History returns the samples taken after the Unix millisecond time
// (0 for all), oldest first.
func (m *Monitor) History(afterMillis int64) History {
	return History{IntervalSeconds: m.opts.PollInterval.Seconds(), WindowSeconds: m.opts.History.Seconds(),
		Samples: m.history.since(afterMillis)}
}
