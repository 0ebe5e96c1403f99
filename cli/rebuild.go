package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/snapshot"
)

// rebuild empties a flow's derived tables and replaces its checkpoint with
// a request for a fresh snapshot, in one downstream transaction. A binflow
// running the flow notices within a second (its checkpoint is gone; and
// its next commit, which compares checkpoints, could not land anyway) and
// snapshots the flow while its other flows go on; a stopped binflow does at
// its next start.
func rebuild(ctx context.Context, cfg *config.Config, reg *functions.Registry, name string, out io.Writer) error {
	f, err := ownedFlow(cfg, name)
	if err != nil {
		return err
	}
	// Everything a snapshot needs is checked before anything is deleted.
	src, err := canal.NewSource(ctx, upstreamOptions(cfg, zerolog.Nop()))
	if err != nil {
		return err
	}
	defer src.Close()
	reader, err := snapshot.Open(ctx, snapshotOptions(cfg, upstreamOptions(cfg, zerolog.Nop())))
	if err != nil {
		return err
	}
	defer reader.Close()
	if cfg.SnapshotMethod() == config.SnapshotWindows {
		if _, _, err := reader.WindowStart(ctx); err != nil { // on MySQL: GTIDs
			return fmt.Errorf("flow %s: %w", name, err)
		}
	} else {
		view, err := reader.Begin(ctx)
		if err != nil {
			return fmt.Errorf("flow %s: %w", name, err)
		}
		view.Close()
	}
	for _, t := range f.Tables {
		if _, err := reader.Table(ctx, t); err != nil {
			return fmt.Errorf("flow %s: %w", name, err)
		}
	}
	store, _, err := dialStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	serverID, serverUUID := src.Identity()
	sinks := sinkTables(f)
	deleted, err := store.RequestRebuild(ctx, name, sinks, serverID, serverUUID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "flow %s: deleted %d row(s) of %s and its checkpoint; a snapshot is requested.\n", name, deleted, strings.Join(sinks, ", "))
	fmt.Fprintf(out, "A binflow running this config snapshots the flow within seconds (its other flows go on); otherwise the next `binflow run` does.\n")
	return nil
}
