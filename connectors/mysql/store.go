// Package mysql is the downstream connector for MySQL and MariaDB: it applies
// a flow's batch of writes and its checkpoint in one transaction, reads
// checkpoints back, classifies errors as retryable or not, and runs the
// downstream migrations.
//
// Other packages import it as mysqlconn.
package mysql

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/binflow/binflow/connectors/internal/connerr"
)

// Options says where the downstream database is and how to reach it.
type Options struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string
	// TLS encrypts the connections when set (config.Config.DownstreamTLS
	// builds it); nil connects in plaintext.
	TLS *tls.Config
	// MaxOpenConns bounds the connection pool; 0 means defaultMaxOpenConns.
	MaxOpenConns int
	// DriverLogger receives the driver's own messages (such as "closing bad
	// idle connection"); nil discards them. Errors are returned, not logged.
	DriverLogger Logger
}

// Logger is what the driver logs to; *log.Logger is one.
type Logger interface {
	Print(v ...any)
}

const (
	defaultMaxOpenConns = 4
	dialTimeout         = 10 * time.Second
	pingTimeout         = 10 * time.Second
	connMaxLifetime     = 30 * time.Minute
	connMaxIdleTime     = 5 * time.Minute
)

// Store is an open downstream database. It is safe for concurrent use; each
// Apply runs on its own connection and transaction.
type Store struct {
	db       *sqlx.DB
	database string
	// argBudget bounds the estimated bytes of one statement's arguments.
	argBudget int
	shapes    shapeCache
	scratch   sync.Pool // of *applyScratch
	// newRows is held by the transactions that insert a flow's row into
	// binflow_checkpoints or binflow_snapshots (a flow's first checkpoint,
	// a snapshot's first progress and its final checkpoint, a rebuild's
	// request): each first locks the missing row (FOR UPDATE), which under
	// REPEATABLE READ takes a gap lock, and two of them inserting into the
	// gap they both hold deadlock (1213). Once per flow: serializing them
	// costs nothing.
	newRows sync.Mutex
}

// Open connects to the downstream database and pings it. Errors name the
// address, user and database, never the password.
func Open(ctx context.Context, o Options) (*Store, error) {
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	fail := func(err error) error {
		return fmt.Errorf("mysql connector: open %s as user %q, database %q: %w", addr, o.User, o.Database, connerr.Redact(err, o.Password))
	}
	if err := connerr.CheckServer(o.Host, o.Port, o.User, o.Database); err != nil {
		return nil, fail(err)
	}

	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.User = o.User
	cfg.Passwd = o.Password
	cfg.DBName = o.Database
	cfg.TLS = o.TLS
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.Timeout = dialTimeout
	// 0 makes the driver read max_allowed_packet from the server, so that an
	// oversized statement falls back to a prepared one instead of failing.
	cfg.MaxAllowedPacket = 0
	cfg.Logger = &mysql.NopLogger{}
	if o.DriverLogger != nil {
		cfg.Logger = o.DriverLogger
	}
	cfg.Params = map[string]string{
		"time_zone": "'+00:00'",
		// Strict mode turns silent truncation of a derived value into an
		// error (1406, 1264), keeping whatever else the server has set.
		"sql_mode": "CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_TRANS_TABLES')",
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fail(err)
	}
	db := sql.OpenDB(connector)
	maxOpen := o.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = defaultMaxOpenConns
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)

	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fail(fmt.Errorf("ping: %w%s", err, tlsHint(err, o.TLS)))
	}
	var maxPacket int64
	if err := db.QueryRowContext(pingCtx, "SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
		_ = db.Close()
		return nil, fail(fmt.Errorf("read max_allowed_packet: %w", err))
	}
	return &Store{
		db:        sqlx.NewDb(db, "mysql"),
		database:  o.Database,
		argBudget: argBudget(maxPacket),
	}, nil
}

// argBudget is the byte budget of one statement's arguments: a quarter of
// max_allowed_packet (escaping may double a value, and the SQL text adds to
// it), within [minArgBytes, maxArgBytes].
func argBudget(maxAllowedPacket int64) int {
	return int(min(max(maxAllowedPacket/4, minArgBytes), maxArgBytes))
}

// DB is the underlying pool, for callers that need plain queries.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("mysql connector: close: %w", err)
	}
	return nil
}

// tlsHint adds to an access-denied error what the account may require that
// the connection lacks: the server says no more than "Access denied" to a
// user created with REQUIRE SSL who connects without TLS, or with REQUIRE
// X509 (SUBJECT, ISSUER) who presents no client certificate.
func tlsHint(err error, c *tls.Config) string {
	var me *mysql.MySQLError
	switch {
	case !errors.As(err, &me) || me.Number != erAccessDenied:
		return ""
	case c == nil:
		return ` (TLS is off: if this account REQUIREs SSL or X509, set tls in [downstream], e.g. tls = "required")`
	case len(c.Certificates) == 0 && c.GetClientCertificate == nil:
		return ` (TLS is on, without a client certificate: if this account REQUIREs X509, SUBJECT or ISSUER, set tls = "custom" with tls_cert and tls_key in [downstream])`
	}
	return ""
}

// erAccessDenied is ER_ACCESS_DENIED_ERROR.
const erAccessDenied = 1045
