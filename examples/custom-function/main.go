// Command custom-function is a binflow binary of your own: binflow's data
// path with one Go function registered on the registry, named in config
// like a built-in.
//
//	go build -o loyalty ./examples/custom-function
//	./loyalty migrate -c examples/custom-function/config.toml
//	./loyalty run     -c examples/custom-function/config.toml
//
// The function, loyalty, counts per customer the orders placed at or above
// a threshold (params.threshold) and labels customers "gold" after
// params.gold_after of them. The count lives in the function's state, which
// binflow saves with each batch and checkpoint (table binflow_state), so a
// crash or kill -9 neither loses nor repeats a count.
//
// The wiring below is binflow's own run path (config, upstream checks, flow
// specs, downstream store, engine) without its HTTP observability; see
// README.md here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	mysqlconn "github.com/binflow/binflow/connectors/mysql"
	postgresconn "github.com/binflow/binflow/connectors/postgres"
	sqliteconn "github.com/binflow/binflow/connectors/sqlite"
	"github.com/binflow/binflow/flow"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// Order is what loyalty reads of an upstream orders row.
type Order struct {
	CustomerID int64           `binflow:"customer_id"`
	Amount     decimal.Decimal `binflow:"amount"`
}

// Loyalty is a row of the derived table loyalty.
type Loyalty struct {
	CustomerID int64  `binflow:"customer_id"`
	BigOrders  int64  `binflow:"big_orders"`
	Level      string `binflow:"level"`
}

// setupLoyalty reads the function's params (once per flow) and returns it.
// Unknown or malformed params stop binflow at start, naming the flow, the
// function's index and the param.
func setupLoyalty(p functions.Params) (functions.TypedFunc[Order, Loyalty], error) {
	if err := p.Only("threshold", "gold_after"); err != nil {
		return nil, err
	}
	threshold, err := p.Decimal("threshold", decimal.NewFromInt(100))
	if err != nil {
		return nil, err
	}
	goldAfter, err := p.Int("gold_after", 3)
	if err != nil {
		return nil, err
	}
	return func(ev functions.Event[Order], out *functions.Emitter[Loyalty]) error {
		// Drop what is not a new big order: emit nothing, return nil.
		if ev.Op != schema.Insert || ev.After.Amount.LessThan(threshold) {
			return nil
		}
		key := strconv.FormatInt(ev.After.CustomerID, 10)
		n, _, err := out.State().GetInt(key)
		if err != nil {
			return err // fail: the flow stops, naming table and binlog position
		}
		n++
		if err := out.State().PutInt(key, n); err != nil {
			return err
		}
		level := "silver"
		if n >= goldAfter {
			level = "gold"
		}
		return out.Upsert(&Loyalty{CustomerID: ev.After.CustomerID, BigOrders: n, Level: level}) // emit
	}, nil
}

func main() {
	reg := functions.NewRegistry()
	if err := reg.Register("loyalty", functions.TypedSetup(setupLoyalty)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(run(os.Args[1:], reg))
}

func run(args []string, reg *functions.Registry) int {
	if len(args) == 0 || (args[0] != "run" && args[0] != "migrate") {
		fmt.Fprintln(os.Stderr, "usage: custom-function run|migrate -c config.toml")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	path := fs.String("c", "config.toml", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return config.ExitCode(err)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if args[0] == "migrate" {
		err = migrate(ctx, cfg)
	} else {
		err = runFlows(ctx, cfg, reg, log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, args[0]+":", err)
		return 1
	}
	return 0
}

// store is what this binary needs of a downstream connector: the engine's
// Store, migrations and derived-table checks. MySQL/MariaDB, PostgreSQL and
// SQLite all keep Go function state (binflow_state).
type store interface {
	flow.Store
	Migrate(ctx context.Context, dir string) ([]string, error)
	CheckTable(ctx context.Context, table string, key []string) error
	Close() error
}

// openStore opens the downstream of the config's driver.
func openStore(ctx context.Context, cfg *config.Config) (store, error) {
	t, err := cfg.DownstreamTLS()
	if err != nil {
		return nil, err
	}
	d := cfg.Downstream
	var s store
	switch d.Driver {
	case config.DriverSQLite:
		s, err = sqliteconn.Open(ctx, sqliteconn.Options{Path: d.Path})
	case config.DriverPostgres:
		s, err = postgresconn.Open(ctx, postgresconn.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password, Database: d.Database, TLS: t})
	default:
		s, err = mysqlconn.Open(ctx, mysqlconn.Options{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password, Database: d.Database, TLS: t})
	}
	if err != nil {
		return nil, err // not s: a nil connector in a non-nil interface
	}
	return s, nil
}

func migrate(ctx context.Context, cfg *config.Config) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	// binflow's migrations (checkpoints, binflow_state), then this
	// binary's own (the loyalty table) from migrations/ next to the config;
	// each store reads the folder of its dialect (mysql, postgres, sqlite).
	dir := cfg.Downstream.Migrations
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(cfg.Path), dir)
	}
	dirs := []string{dir}
	if own := filepath.Join(filepath.Dir(cfg.Path), "migrations"); own != dir {
		if _, err := os.Stat(own); err == nil {
			dirs = append(dirs, own)
		}
	}
	for _, d := range dirs {
		applied, err := store.Migrate(ctx, d)
		for _, name := range applied {
			fmt.Println("applied", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func runFlows(ctx context.Context, cfg *config.Config, reg *functions.Registry, log zerolog.Logger) error {
	u := cfg.Upstream
	upTLS, err := cfg.UpstreamTLS()
	if err != nil {
		return err
	}
	src, err := canal.NewSource(ctx, canal.Options{Flavor: u.Flavor, Host: u.Host, Port: u.Port, User: u.User, Password: u.Password,
		ServerID: u.ServerID, TLS: upTLS, Log: log.With().Str("component", "canal").Logger()})
	if err != nil {
		return err
	}
	defer src.Close()
	var tables []string
	for _, f := range cfg.Flows {
		tables = append(tables, f.Tables...)
	}
	problems, err := canal.Check(ctx, src.DB(), u.Flavor, u.ServerID, tables)
	if err != nil {
		return err
	}
	for _, p := range problems {
		if p.Fatal {
			return errors.New(p.String())
		}
	}
	// Every flow is checked against the upstream's tables, and every
	// function against its input, before anything runs.
	specs, err := flow.BuildSpecs(ctx, cfg.Flows, reg, src, nil)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, f := range cfg.Flows {
		for _, fn := range f.Functions {
			if fn.Kind == config.KindSink {
				if err := store.CheckTable(ctx, fn.Table, fn.Key); err != nil {
					return fmt.Errorf("flow %s: %w", f.Name, err)
				}
			}
		}
	}
	// This example streams from the binlog: upstream.start is "current"
	// or a binlog position (binflow's own binary also snapshots).
	var start schema.Position
	switch file, pos, current, err := config.ParseStart(u.Start); {
	case err != nil || u.Start == "snapshot":
		return fmt.Errorf("upstream.start = %q: this example starts at \"current\" or a binlog position", u.Start)
	case !current:
		start = schema.Position{File: file, Pos: max(pos, 4)}
	}
	engine := flow.New(src, store, specs, flow.Options{Start: start, MaxRows: cfg.Batch.MaxRows, MaxDelay: cfg.Batch.MaxDelay.Duration,
		QueueTxns: cfg.Batch.QueueTxns, RetryMax: cfg.Batch.RetryMax.Duration, Log: log})
	started := time.Now()
	err = engine.Run(ctx)
	log.Info().Dur("ran", time.Since(started)).Msg("stopped")
	return err
}
