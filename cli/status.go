package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/status"
)

// liveTimeout bounds asking a running binflow for its status.
const liveTimeout = 3 * time.Second

// showStatus prints each flow's state, checkpoint and lag: from the running
// binflow when it serves [http] listen, otherwise from the checkpoints
// downstream and the upstream's binlog (binflow need not run).
func showStatus(ctx context.Context, cfg *config.Config, out io.Writer, asJSON bool) error {
	state, why := status.StateUnknown, "binflow's own state is unknown: [http] listen is not set, so this is read from the checkpoints and the upstream"
	if url := status.LiveURL(cfg.HTTP.Listen); url != "" {
		r, err := liveReport(ctx, url)
		if err == nil {
			return writeReport(out, r, "live from "+url, asJSON)
		}
		state, why = status.StateNotRunning, fmt.Sprintf("binflow does not answer at %s (%v); this is read from the checkpoints and the upstream", url, err)
	}
	r, err := offlineReport(ctx, cfg, state, why)
	if err != nil {
		return err
	}
	return writeReport(out, r, "offline: checkpoints in "+downstreamName(cfg)+" and the upstream", asJSON)
}

func writeReport(out io.Writer, r status.Report, from string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return status.WriteText(out, r, from)
}

func liveReport(ctx context.Context, url string) (status.Report, error) {
	var r status.Report
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
	if err != nil {
		return r, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET %s/status: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("GET %s/status: %w", url, err)
	}
	return r, nil
}

// offlineReport reads the checkpoints (which must be readable) and the
// upstream's binlog (whose failure is shown in the report).
func offlineReport(ctx context.Context, cfg *config.Config, state, why string) (status.Report, error) {
	store, _, err := dialStore(ctx, cfg)
	if err != nil {
		return status.Report{}, err
	}
	defer store.Close()
	checkpoints, err := store.Checkpoints(ctx)
	if err != nil {
		return status.Report{}, err
	}
	failures, err := store.FlowErrors(ctx)
	if err != nil {
		return status.Report{}, err
	}
	in := status.OfflineInput{Now: time.Now(), Checkpoints: checkpoints, Errors: failures, State: state, Why: why,
		MaxLag: cfg.Health.MaxLag.Duration}
	for _, f := range cfg.Flows {
		in.Flows = append(in.Flows, f.Name)
	}
	in.UpstreamErr = func() error {
		src, err := canal.NewSource(ctx, upstreamOptions(cfg, zerolog.Nop()))
		if err != nil {
			return err
		}
		defer src.Close()
		in.ServerID, _ = src.Identity()
		if in.UpstreamPos, err = src.CurrentPosition(ctx); err != nil {
			return err
		}
		in.Binlogs, err = src.BinaryLogs(ctx)
		return err
	}()
	return status.Offline(in), nil
}
