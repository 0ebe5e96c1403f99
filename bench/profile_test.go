package bench

// An optional, untimed extra pass (BINFLOW_BENCH_PROFILE=DIR): the engine
// run in-process, wired as package cli's runFlows does (minus the upstream
// preflight checks), under the CPU profiler, so `go tool pprof` can say
// where a flow's time goes without touching the binary. It also writes a
// heap profile near the peak of the live heap, and times the downstream
// writes (the CPU profile cannot show time spent waiting on them).

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	bfcanal "github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	mysqlconn "github.com/binflow/binflow/connectors/mysql"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/functions/sample"
	"github.com/binflow/binflow/schema"
)

// timedStore is the engine's Store with the wall time and size of Apply
// calls counted.
type timedStore struct {
	flow.Store
	batches, rows atomic.Int64
	busy          atomic.Int64 // nanoseconds inside Apply
}

func (s *timedStore) Apply(ctx context.Context, b *connectors.Batch) error {
	start := time.Now()
	err := s.Store.Apply(ctx, b)
	s.busy.Add(int64(time.Since(start)))
	s.batches.Add(1)
	s.rows.Add(int64(b.Len()))
	return err
}

// profileStats is what one in-process run measured besides its profiles.
type profileStats struct {
	took, applying time.Duration
	batches, rows  int64  // downstream transactions and row writes
	peakHeap       uint64 // largest HeapInuse sampled
}

// profileFlow runs the config's flows in-process until the flow's checkpoint
// reaches `to`, writing CPU and heap profiles to profPrefix+".cpu.pprof" and
// ".heap.pprof". Its time includes profiling overhead: not a benchmark figure.
func profileFlow(ctx context.Context, cfgPath, profPrefix string, s sink, fk flowKind, to position) (profileStats, error) {
	var st profileStats
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return st, err
	}
	reg := functions.NewRegistry()
	if err := sample.Register(reg); err != nil {
		return st, err
	}
	log := zerolog.Nop()
	u, d := cfg.Upstream, cfg.Downstream
	src, err := bfcanal.NewSource(ctx, bfcanal.Options{Flavor: u.Flavor, Host: u.Host, Port: u.Port, User: u.User,
		Password: u.Password, ServerID: u.ServerID, Log: log})
	if err != nil {
		return st, err
	}
	defer src.Close()
	specs, err := flow.BuildSpecs(ctx, cfg.Flows, reg, src, nil)
	if err != nil {
		return st, err
	}
	store, err := mysqlconn.Open(ctx, mysqlconn.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password, Database: d.Database})
	if err != nil {
		return st, err
	}
	defer store.Close()
	file, pos, _, err := config.ParseStart(u.Start)
	if err != nil {
		return st, err
	}
	timed := &timedStore{Store: store}
	engine := flow.New(src, timed, specs, flow.Options{Start: schema.Position{File: file, Pos: max(pos, 4)},
		MaxRows: cfg.Batch.MaxRows, MaxDelay: cfg.Batch.MaxDelay.Duration, QueueTxns: cfg.Batch.QueueTxns,
		RetryMax: cfg.Batch.RetryMax.Duration, Log: log})

	f, err := os.Create(profPrefix + ".cpu.pprof")
	if err != nil {
		return st, err
	}
	defer f.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	if err := pprof.StartCPUProfile(f); err != nil {
		return st, err
	}
	start := time.Now()
	go func() { done <- engine.Run(runCtx) }()
	deadline := start.Add(phaseTimeout)
	for {
		p, ok, err := s.checkpoint(ctx, string(fk))
		if err == nil && ok && p.compare(to) >= 0 {
			break
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		// Rewrite the heap profile only on a clearly new peak: writing it
		// costs, and what matters is what the peak is made of.
		if ms.HeapInuse > st.peakHeap+st.peakHeap/10 {
			st.peakHeap = ms.HeapInuse
			if err := writeHeapProfile(profPrefix + ".heap.pprof"); err != nil {
				pprof.StopCPUProfile()
				cancel()
				<-done
				return st, err
			}
		}
		select {
		case err := <-done:
			pprof.StopCPUProfile()
			return st, fmt.Errorf("in-process %s stopped early: %v", fk, err)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			pprof.StopCPUProfile()
			return st, fmt.Errorf("in-process %s: not at %s after %s", fk, to, phaseTimeout)
		}
	}
	st.took = time.Since(start)
	pprof.StopCPUProfile()
	cancel()
	st.applying = time.Duration(timed.busy.Load())
	st.batches, st.rows = timed.batches.Load(), timed.rows.Load()
	if err := <-done; err != nil {
		return st, fmt.Errorf("in-process %s: %w", fk, err)
	}
	return st, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
