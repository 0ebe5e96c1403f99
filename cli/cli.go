// Package cli is binflow's command line: the commands run, check, migrate,
// status, rebuild, verify and reset, as the binflow binary and any binary of
// one's own with Go functions (examples/custom-function) run them.
//
//	binflow run     -c config.toml   stream and keep derived tables current
//	binflow check   -c config.toml   check the upstream and the config, print fixes
//	binflow migrate -c config.toml   apply migrations/ to the downstream
//	binflow status  -c config.toml   each flow's state, checkpoint and lag
//	binflow rebuild FLOW -c config.toml            snapshot a flow again
//	binflow verify  FLOW -c config.toml            compare a flow with a recomputation
//	binflow reset   FLOW --to POS|GTID --yes -c config.toml   move a flow's checkpoint
//
// A binary calls [Main] with its arguments, its output streams and the
// registry of its Go functions, and exits with the code Main returns:
//
//	reg := functions.NewRegistry()
//	reg.Register("loyalty", functions.TypedSetup(setupLoyalty))
//	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, reg, cli.Options{}))
//
// It owns the wiring of the data path (config → canal → flow engine →
// functions → connectors): command-line parsing and exit codes, loading the
// config, logging, SIGINT/SIGTERM, the upstream checks, opening the
// downstream store of the config's driver, and run's observability (the
// status monitor and the HTTP server of /metrics, /healthz, /readyz,
// /status and the status page).
//
// It must not hold the data path's logic (routing, batching, checkpoints,
// functions, SQL: those belong to flow, functions and connectors), keep
// mutable package state (the registry is a value passed in, and each call
// of Main builds everything it uses), register functions of its own (the
// binary decides which: cmd/binflow registers functions/sample), or act on
// the process beyond a command's run: it never calls os.Exit, writes only
// to the writers it is given, and leaves process settings such as the
// memory limit to the binary's main (which calls [SetMemoryLimit]).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	mysqlconn "github.com/binflow/binflow/connectors/mysql"
	postgresconn "github.com/binflow/binflow/connectors/postgres"
	sqliteconn "github.com/binflow/binflow/connectors/sqlite"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/snapshot"
)

const usage = `usage: binflow <command> -c config.toml

commands:
  run       stream the upstream binlog through the configured flows
  check     check the upstream server and the config; print each problem with its fix
  migrate   apply the downstream migrations (derived tables, checkpoint table)
  status    each flow's state, checkpoint and lag (also when binflow is not running);
            --json prints it as JSON
  rebuild FLOW
            empty FLOW's derived tables and snapshot it again (a running binflow
            does it at once, the other flows going on; otherwise the next run)
  verify FLOW
            recompute FLOW from a consistent snapshot of the upstream and compare
            with its derived tables; prints missing, extra and differing rows;
            exit 1 on any difference
  reset FLOW --to FILE:POS|GTID_SET --yes
            set FLOW's checkpoint by hand (its derived tables are not changed)
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitConfig  = 2 // invalid config or command line
)

// Options are what a binary of one's own adds to binflow's commands; the
// zero value is binflow's own behaviour.
type Options struct {
	// Migrations are more migration folders that migrate applies, in order,
	// after downstream.migrations (binflow's own tables): the tables of the
	// binary's own flows. Each holds one folder per dialect (mysql,
	// postgres, sqlite), like migrations/; a relative path is relative to
	// the config file's folder, like downstream.migrations. A folder that
	// does not exist there is skipped (run's start-up check then names any
	// derived table still missing); one that is downstream.migrations is
	// applied once.
	Migrations []string
}

// Main runs the binflow command of args (the arguments after the program
// name) with the Go functions of reg (nil: none), writing results to stdout
// and messages and logs to stderr, and returns the exit code: 0 success, 1
// failure, 2 invalid config or command line. It returns at a batch boundary
// on SIGINT or SIGTERM.
func Main(args []string, stdout, stderr io.Writer, reg *functions.Registry, opts Options) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitConfig
		}
		return exitOK
	}
	cmd := args[0]
	fs := flag.NewFlagSet("binflow "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "config.toml", "config file")
	var asJSON *bool
	if cmd == "status" {
		asJSON = fs.Bool("json", false, "print the status as JSON")
	}
	var resetTo *string
	var resetYes *bool
	if cmd == "reset" {
		resetTo = fs.String("to", "", "the new checkpoint: a binlog position FILE:POS, or a GTID set")
		resetYes = fs.Bool("yes", false, "confirm: without it reset only says what it would do")
	}
	positional, err := parseArgs(fs, args[1:])
	if err != nil {
		return exitConfig
	}
	if code := checkPositional(cmd, positional, stderr); code != exitOK {
		return code
	}
	if reg == nil {
		reg = functions.NewRegistry()
	}
	switch cmd {
	case "run", "check", "migrate", "status", "rebuild", "verify", "reset":
	default:
		fmt.Fprintf(stderr, "binflow: unknown command %q\n%s", cmd, usage)
		return exitConfig
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return config.ExitCode(err)
	}
	log := newLogger(cfg.Log, stderr, isTerminal(stderr))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "run":
		err = runFlows(ctx, cfg, reg, log, stderr)
	case "check":
		err = check(ctx, cfg, reg, stdout)
	case "migrate":
		err = migrate(ctx, cfg, opts.Migrations, stdout)
	case "status":
		err = showStatus(ctx, cfg, stdout, *asJSON)
	case "rebuild":
		err = rebuild(ctx, cfg, reg, positional[0], stdout)
	case "verify":
		err = verify(ctx, cfg, reg, positional[0], stdout)
	case "reset":
		if !*resetYes {
			return refuseReset(ctx, cfg, positional[0], *resetTo, stderr)
		}
		err = reset(ctx, cfg, positional[0], *resetTo, stdout)
	}
	if err != nil && cmd == "run" && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// SIGINT or SIGTERM while starting (connecting, checking, opening the
		// downstream): nothing was applied, so this is a clean stop.
		log.Info().Msg("stopped while starting")
		return exitOK
	}
	if err != nil {
		log.Error().Err(err).Msg(cmd + " failed")
		fmt.Fprintln(stderr, "binflow "+cmd+":", err)
		return exitFailure
	}
	return exitOK
}

// newLogger writes to w at c's level, as JSON or, for humans, as console
// lines: c.Format console, or auto when w is a terminal (the caller says,
// isTerminal).
func newLogger(c config.Log, w io.Writer, terminal bool) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	auto := c.Format == config.LogFormatAuto || c.Format == ""
	if c.Format == config.LogFormatConsole || (auto && terminal) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func upstreamOptions(cfg *config.Config, log zerolog.Logger) canal.Options {
	u := cfg.Upstream
	return canal.Options{Flavor: u.Flavor, Host: u.Host, Port: u.Port, User: u.User, Password: u.Password,
		ServerID: u.ServerID, TLS: refuseOnError(cfg.UpstreamTLS()), Log: log.With().Str("component", "canal").Logger()}
}

// downstreamStore is the downstream as binflow's commands use it, whatever
// the driver: connectors/mysql, connectors/postgres and connectors/sqlite
// each provide one.
type downstreamStore interface {
	Apply(ctx context.Context, b *connectors.Batch) error
	LoadCheckpoint(ctx context.Context, flow string) (connectors.Checkpoint, bool, error)
	Checkpoints(ctx context.Context) ([]connectors.Checkpoint, error)
	Retryable(err error) bool
	Migrate(ctx context.Context, dir string) ([]string, error)
	CheckTable(ctx context.Context, table string, key []string) error
	Close() error

	// Snapshots, compare-and-set commits, rebuild and reset.
	ApplyAfter(ctx context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error
	LoadSnapshot(ctx context.Context, flow string) (connectors.SnapshotProgress, bool, error)
	Snapshots(ctx context.Context) (map[string]connectors.SnapshotProgress, error)
	ApplySnapshot(ctx context.Context, b *connectors.Batch, prev, next *connectors.SnapshotProgress) error
	RequestRebuild(ctx context.Context, flow string, tables []string, serverID uint32, serverUUID string) (int64, error)
	SetCheckpoint(ctx context.Context, c connectors.Checkpoint) (connectors.Checkpoint, bool, error)
	TableEmpty(ctx context.Context, table string) (bool, error)

	// Each flow's last failure (binflow_flow_errors).
	RecordFlowError(ctx context.Context, e connectors.FlowError) error
	FlowErrors(ctx context.Context) ([]connectors.FlowError, error)
}

var (
	_ downstreamStore = (*mysqlconn.Store)(nil)
	_ downstreamStore = (*postgresconn.Store)(nil)
	_ downstreamStore = (*sqliteconn.Store)(nil)
)

// dialStore opens the downstream of cfg's driver once, and says whether its
// error is worth retrying.
func dialStore(ctx context.Context, cfg *config.Config) (downstreamStore, func(error) bool, error) {
	d := cfg.Downstream
	switch d.Driver {
	case config.DriverSQLite:
		s, err := sqliteconn.Open(ctx, sqliteconn.Options{Path: d.Path})
		if err != nil {
			return nil, sqliteconn.Retryable, err
		}
		return s, sqliteconn.Retryable, nil
	case config.DriverPostgres:
		s, err := postgresconn.Open(ctx, postgresconn.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password,
			Database: d.Database, TLS: refuseOnError(cfg.DownstreamTLS())})
		if err != nil {
			return nil, postgresconn.Retryable, err
		}
		return s, postgresconn.Retryable, nil
	default:
		s, err := mysqlconn.Open(ctx, downstreamOptions(cfg))
		if err != nil {
			return nil, mysqlconn.Retryable, err
		}
		return s, mysqlconn.Retryable, nil
	}
}

// downstreamName names the downstream for messages.
func downstreamName(cfg *config.Config) string {
	if cfg.Downstream.Driver == config.DriverSQLite {
		return "SQLite file " + cfg.Downstream.Path
	}
	return "database " + cfg.Downstream.Database
}

func downstreamOptions(cfg *config.Config) mysqlconn.Options {
	d := cfg.Downstream
	return mysqlconn.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password, Database: d.Database,
		TLS: refuseOnError(cfg.DownstreamTLS())}
}

func allTables(cfg *config.Config) []string {
	var tables []string
	for _, f := range cfg.Flows {
		tables = append(tables, f.Tables...)
	}
	return tables
}

// readTables are the upstream tables a flow reads: its source tables and
// those its lookups read from the upstream. binflow's user needs SELECT on
// each.
func readTables(f config.Flow) []string {
	tables := slices.Clone(f.Tables)
	for _, fn := range f.Functions {
		if fn.Kind == config.KindLookup && (fn.From == "" || fn.From == config.LookupUpstream) {
			tables = append(tables, fn.Table)
		}
	}
	return tables
}

// allReadTables is readTables of every flow.
func allReadTables(cfg *config.Config) []string {
	var tables []string
	for _, f := range cfg.Flows {
		tables = append(tables, readTables(f)...)
	}
	return tables
}

// runFlows streams until a signal (exit 0 at a batch boundary) or a failure.
func runFlows(ctx context.Context, cfg *config.Config, reg *functions.Registry, log zerolog.Logger, stderr io.Writer) error {
	progress := &canal.ReadProgress{}
	upstream := upstreamOptions(cfg, log)
	upstream.Progress, upstream.HeartbeatPeriod = progress, heartbeatPeriod(cfg)
	upstream.Tables = allTables(cfg) // rows of other tables are skipped unread
	src, err := canal.NewSource(ctx, upstream)
	if err != nil {
		return err
	}
	defer src.Close()
	problems, err := canal.Check(ctx, src.DB(), cfg.Upstream.Flavor, cfg.Upstream.ServerID, allReadTables(cfg))
	if err != nil {
		return fmt.Errorf("check upstream: %w", err)
	}
	var fatal []string
	for _, p := range problems {
		if p.Fatal {
			fatal = append(fatal, p.String())
		} else {
			log.Warn().Str("setting", p.Setting).Str("found", p.Found).Str("fix", p.Fix).Msg("upstream problem")
		}
	}
	if len(fatal) > 0 {
		return fmt.Errorf("upstream is not ready for binflow:\n  %s", strings.Join(fatal, "\n  "))
	}
	lookups := newLookupReaders(cfg)
	defer lookups.Close()
	specs, err := flow.BuildSpecs(ctx, cfg.Flows, reg, src, lookups.Open)
	if err != nil {
		return err
	}
	obs, err := startObservability(ctx, cfg, src, progress, log)
	if err != nil {
		return err
	}
	defer obs.stop()
	obs.monitor.SetPhase("connecting to the downstream")
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkSinkTables(ctx, cfg, store); err != nil {
		return err
	}
	var startAt schema.Position
	if file, pos, current, _ := config.ParseStart(cfg.Upstream.Start); !current {
		startAt = schema.Position{File: file, Pos: max(pos, 4)}
	}
	snapReader, err := snapshot.Open(ctx, snapshotOptions(cfg, upstream))
	if err != nil {
		return err
	}
	defer snapReader.Close()
	snapProgress := newSnapshotProgress(log.With().Str("component", "snapshot").Logger(), cfg.Snapshot.ProgressInterval.Duration, stderr)
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go snapProgress.run(progressCtx)
	engine := flow.New(src, store, specs, flow.Options{Start: startAt,
		Snapshot: &flow.SnapshotOptions{Reader: snapReader, New: cfg.Upstream.Start == config.StartSnapshot,
			ChunkRows: cfg.Snapshot.ChunkRows, MaxRows: cfg.Snapshot.MaxRows, MaxDelay: cfg.Snapshot.MaxDelay.Duration,
			Method: cfg.SnapshotMethod(), Progress: snapProgress.update},
		MoveByGTID: cfg.Upstream.ServerChange == config.ServerChangeGTID,
		MaxRows:    cfg.Batch.MaxRows, MaxDelay: cfg.Batch.MaxDelay.Duration, QueueTxns: cfg.Batch.QueueTxns,
		RetryMax: cfg.Batch.RetryMax.Duration, Log: log, Observer: obs.monitor, Redact: redactor(cfg),
	})
	obs.monitor.Attach(engine)
	err = engine.Run(ctx)
	obs.monitor.Ended()
	if err == nil {
		log.Info().Msg("stopped")
	}
	return err
}

// redactor replaces the config's passwords in a text with [redacted], as
// the connectors do in their errors: what binflow records downstream never
// holds one, whatever a driver's error quoted (at the price of a message
// mangled where a weak password is also a word of it).
func redactor(cfg *config.Config) func(string) string {
	var secrets []string
	for _, p := range []string{cfg.Upstream.Password, cfg.Downstream.Password} {
		if p != "" {
			secrets = append(secrets, p)
		}
	}
	return func(s string) string {
		for _, p := range secrets {
			s = strings.ReplaceAll(s, p, "[redacted]")
		}
		return s
	}
}

// checkSinkTables refuses to start when a table a flow writes (a derived
// table, an aggregate's or a join's state table) is missing or has unique
// keys that would make upserts by the flow's key unsafe.
func checkSinkTables(ctx context.Context, cfg *config.Config, store downstreamStore) error {
	var problems []string
	for i, f := range cfg.Flows {
		for _, t := range functions.Tables(f) {
			if err := store.CheckTable(ctx, t.Name, t.Key); err != nil {
				problem := fmt.Sprintf("flow %s: flows[%d].functions[%d] (%s table): %v", f.Name, i, t.Index, t.What, err)
				if t.Shape != "" {
					problem += "; it needs " + t.Shape
				}
				problems = append(problems, problem)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("derived tables not ready:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// openStore connects to the downstream, waiting with backoff while it is
// unreachable: a downstream that is down at start is an outage, not a
// reason to exit.
func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (downstreamStore, error) {
	wait := 250 * time.Millisecond
	for {
		store, retryable, err := dialStore(ctx, cfg)
		if err == nil {
			return store, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) {
			return nil, err
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("downstream unreachable; retrying")
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, cfg.Batch.RetryMax.Duration)
	}
}

// check prints every upstream problem with its fix and checks the flows
// against the upstream's tables.
func check(ctx context.Context, cfg *config.Config, reg *functions.Registry, out io.Writer) error {
	src, err := canal.NewSource(ctx, upstreamOptions(cfg, zerolog.Nop()))
	if err != nil {
		return err
	}
	defer src.Close()
	problems, err := canal.Check(ctx, src.DB(), cfg.Upstream.Flavor, cfg.Upstream.ServerID, allReadTables(cfg))
	if err != nil {
		return err
	}
	unreadable := map[string]bool{}
	for _, p := range problems {
		fmt.Fprintln(out, p.String())
		if p.Table != "" {
			unreadable[p.Table] = true
		}
	}
	lookups := newLookupReaders(cfg)
	defer lookups.Close()
	_, specErr := flow.BuildSpecs(ctx, cfg.Flows, reg, src, lookups.Open)
	specErr = withoutUnreadable(cfg, specErr, unreadable, out)
	if specErr != nil {
		fmt.Fprintln(out, specErr)
	}
	if len(problems) > 0 || specErr != nil {
		if specErr != nil {
			return fmt.Errorf("%d upstream problem(s) and flow problems", len(problems))
		}
		return fmt.Errorf("%d upstream problem(s)", len(problems))
	}
	fmt.Fprintf(out, "upstream %s:%d ready; %d flow(s) match its tables\n", cfg.Upstream.Host, cfg.Upstream.Port, len(cfg.Flows))
	return nil
}

// withoutUnreadable drops from the flow problems of BuildSpecs those of
// the flows that read a table binflow may not read: such a table is
// invisible in information_schema, so they would call it missing. It says
// instead that those flows wait for the SELECT reported above.
func withoutUnreadable(cfg *config.Config, specErr error, unreadable map[string]bool, out io.Writer) error {
	if len(unreadable) == 0 {
		return specErr
	}
	waiting := map[string]bool{}
	for _, f := range cfg.Flows {
		if i := slices.IndexFunc(readTables(f), func(t string) bool { return unreadable[t] }); i >= 0 {
			waiting[f.Name] = true
			fmt.Fprintf(out, "flow %s: not checked against the upstream's tables until binflow may read %s (SELECT, above)\n", f.Name, readTables(f)[i])
		}
	}
	errs := []error{specErr}
	if joined, ok := specErr.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	var kept []error
	for _, err := range errs {
		var missing *flow.MissingTableError
		var step *functions.StepError
		switch {
		case err == nil:
		case errors.As(err, &missing) && waiting[missing.Flow]:
		case errors.As(err, &step) && waiting[step.Flow]:
		default:
			kept = append(kept, err)
		}
	}
	return errors.Join(kept...)
}

// migrate applies downstream.migrations, then the binary's own folders
// (Options.Migrations) that exist.
func migrate(ctx context.Context, cfg *config.Config, own []string, out io.Writer) error {
	store, _, err := dialStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	dirs := []string{configRelative(cfg, cfg.Downstream.Migrations)}
	for _, d := range own {
		d = configRelative(cfg, d)
		if slices.Contains(dirs, d) {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			continue
		}
		dirs = append(dirs, d)
	}
	var n int
	for _, dir := range dirs {
		applied, err := store.Migrate(ctx, dir)
		for _, name := range applied {
			fmt.Fprintln(out, "applied", name)
		}
		n += len(applied)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d migration(s) applied\n", n)
	return nil
}

// configRelative resolves a path of the config relative to its file's
// folder.
func configRelative(cfg *config.Config, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(cfg.Path), path)
}
