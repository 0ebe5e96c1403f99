package snapshot

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/schema"
)

// Options say which server to read and how.
type Options struct {
	Flavor   string // "mariadb" (default) or "mysql"
	Host     string
	Port     int
	User     string
	Password string
	TLS      *tls.Config
	// Database is the default database of the connections (optional).
	Database string
	// Stream is how StreamUntil reads the binlog (the upstream's reader
	// options); unused by readers that never stream.
	Stream canal.Options
}

// ErrNoConsistentSnapshot is returned by Begin on servers that cannot tell
// the binlog position of a consistent snapshot without a global lock.
var ErrNoConsistentSnapshot = errors.New("the upstream cannot report the binlog position of a consistent snapshot without a global lock " +
	"(MySQL has no binlog_snapshot_position; MariaDB does): set upstream.start = \"current\" to stream without a snapshot")

// Reader reads tables of one server. It is safe for concurrent use; each
// View holds one connection of its own.
type Reader struct {
	db   *sql.DB
	opts Options
}

// Open connects. The connections use the text protocol and return values
// as the server prints them, in UTC, which decode exactly into binflow's
// typed values. Errors name the address and user, never the password.
func Open(ctx context.Context, o Options) (*Reader, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = o.User, o.Password
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	cfg.DBName = o.Database
	cfg.TLS = o.TLS
	cfg.Loc = time.UTC
	cfg.ParseTime = false        // DATETIME as text: zero dates survive, no time zone guessing
	cfg.InterpolateParams = true // the text protocol: values as the server prints them
	cfg.Timeout = 10 * time.Second
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("snapshot reader: %s as %s: %w", cfg.Addr, o.User, err)
	}
	db := sql.OpenDB(connector)
	// No bound: each snapshot in progress holds one connection for its
	// view, and must still get another for metadata and comparisons.
	db.SetMaxOpenConns(0)
	db.SetMaxIdleConns(2)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("snapshot reader: %s as %s: %w", cfg.Addr, o.User, err)
	}
	if o.Flavor == "" {
		o.Flavor = gomysql.MariaDBFlavor
	}
	return &Reader{db: db, opts: o}, nil
}

// DB is the reader's connection pool.
func (r *Reader) DB() *sql.DB { return r.db }

// Close closes the pool.
func (r *Reader) Close() error { return r.db.Close() }

// View is one consistent read view of the server and the binlog position
// it reflects: every transaction committed before Pos is visible, none
// after. It holds one connection and an open read-only transaction until
// Close. It is used by one goroutine at a time.
type View struct {
	r    *Reader
	conn *sql.Conn
	// Pos is the binlog position of the view; GTID the server's GTID set
	// there ("" without GTIDs).
	Pos  schema.Position
	GTID string
}

// Begin opens a consistent view. On MariaDB it takes no lock: InnoDB's
// consistent snapshot is created atomically with the binlog position of
// the last transaction it includes (binlog_snapshot_file/position).
func (r *Reader) Begin(ctx context.Context) (*View, error) {
	if r.opts.Flavor == gomysql.MySQLFlavor {
		return nil, ErrNoConsistentSnapshot
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open consistent snapshot: %w", err)
	}
	v := &View{r: r, conn: conn}
	fail := func(what string, err error) (*View, error) {
		v.Close()
		return nil, fmt.Errorf("open consistent snapshot: %s: %w", what, err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return fail("set isolation level", err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return fail("START TRANSACTION WITH CONSISTENT SNAPSHOT", err)
	}
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return fail("SHOW STATUS LIKE 'binlog_snapshot_%'", err)
	}
	var file, pos string
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			return fail("read binlog_snapshot_%", err)
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			file = value
		case "binlog_snapshot_position":
			pos = value
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("read binlog_snapshot_%", err)
	}
	n, err := strconv.ParseUint(pos, 10, 32)
	if file == "" || err != nil {
		return fail("binlog position", fmt.Errorf("the server reports binlog_snapshot_file %q, binlog_snapshot_position %q: is binary logging on (log_bin)?", file, pos))
	}
	v.Pos = schema.Position{File: file, Pos: uint32(n)}
	var gtid sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, n).Scan(&gtid); err != nil {
		return fail("GTID set at "+v.Pos.String(), err)
	}
	v.GTID = gtid.String
	return v, nil
}

// Close ends the view's transaction and releases its connection.
func (v *View) Close() error {
	if v.conn == nil {
		return nil
	}
	_, _ = v.conn.ExecContext(context.Background(), "COMMIT") // a read-only view: nothing to lose
	err := v.conn.Close()
	v.conn = nil
	return err
}

// Estimate is the server's estimate of a table's rows
// (information_schema.TABLES.TABLE_ROWS: exact for MyISAM, a sample for
// InnoDB), 0 when unknown.
func (r *Reader) Estimate(ctx context.Context, table string) (uint64, error) {
	db, name, ok := strings.Cut(table, ".")
	if !ok {
		return 0, fmt.Errorf("table %q: expected schema.table", table)
	}
	var n sql.NullInt64
	err := r.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("table %s does not exist", table)
	}
	if err != nil {
		return 0, fmt.Errorf("estimate rows of %s: %w", table, err)
	}
	return uint64(max(n.Int64, 0)), nil
}

// BeginRead opens a consistent read view without a binlog position (a
// server without binary logging, such as the downstream): Pos stays zero.
func (r *Reader) BeginRead(ctx context.Context) (*View, error) {
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open consistent read: %w", err)
	}
	v := &View{r: r, conn: conn}
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			v.Close()
			return nil, fmt.Errorf("open consistent read: %s: %w", q, err)
		}
	}
	return v, nil
}

// QueryRow runs a query in the view.
func (v *View) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return v.conn.QueryRowContext(ctx, query, args...)
}
