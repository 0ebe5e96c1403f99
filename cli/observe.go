package cli

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/status"
)

// stallHeartbeats is how many heartbeat periods the reader may receive
// nothing new, not even a heartbeat, before it counts as stalled: the
// upstream is asked for a heartbeat every health.stall_after /
// stallHeartbeats (5s by default). The reader's read timeout is the same 3
// periods; the events a reconnect then brings are not activity (see
// canal.ReadProgressSnapshot), so a reconnecting reader that receives
// nothing new still shows as stalled.
const stallHeartbeats = 3

// heartbeatPeriod is how often an idle upstream sends the reader a
// heartbeat.
func heartbeatPeriod(cfg *config.Config) time.Duration {
	return cfg.Health.StallAfter.Duration / stallHeartbeats
}

// observability is `binflow run`'s monitor and, when [http] listen is set,
// the HTTP server of /metrics, /healthz, /readyz, /status and the page.
type observability struct {
	monitor *status.Monitor
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startObservability starts the monitor (polling the upstream, logging
// stalls and retention warnings) and the HTTP server. A listen address that
// cannot be bound is an error: binflow does not run unobserved by surprise.
func startObservability(ctx context.Context, cfg *config.Config, src *canal.Source, progress *canal.ReadProgress, log zerolog.Logger) (*observability, error) {
	registry := prometheus.NewRegistry()
	serverID, _ := src.Identity()
	monitor, err := status.NewMonitor(src, progress, status.Options{
		MaxLag:     cfg.Health.MaxLag.Duration,
		StallAfter: cfg.Health.StallAfter.Duration,
		ServerID:   serverID,
		Log:        log.With().Str("component", "status").Logger(),
		Registry:   registry,
		Version:    version(),
	})
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if cfg.HTTP.Listen != "" {
		if ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return nil, fmt.Errorf("%s: http.listen %q: %w (set another address, or \"\" to serve nothing)", cfg.Path, cfg.HTTP.Listen, err)
		}
		log.Info().Str("address", ln.Addr().String()).Str("page", "http://"+ln.Addr().String()+"/").
			Msg("serving /metrics, /healthz, /readyz, /status and the status page")
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &observability{monitor: monitor, cancel: cancel}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		monitor.Run(ctx)
	}()
	if ln != nil {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			if err := status.Serve(ctx, ln, monitor.Handler(registry)); err != nil {
				log.Error().Err(err).Msg("status server stopped")
			}
		}()
	}
	return o, nil
}

// stop ends the monitor and the server and waits for them.
func (o *observability) stop() {
	o.cancel()
	o.wg.Wait()
}

// version is the module version binflow was built as, "dev" for a build
// from a work tree.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "dev"
	}
	return info.Main.Version
}
