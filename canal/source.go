package canal

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/schema"
)

// Source is an upstream server: a SQL connection for metadata and the
// binlog stream. It satisfies the flow engine's Source interface.
type Source struct {
	opts       Options
	db         *sql.DB
	serverID   uint32
	serverUUID string

	mu        sync.Mutex
	streaming bool // a connection with opts.ServerID is open (takeServerID)
}

// OpenDB opens a SQL connection to the upstream (for checks and metadata).
// Errors name the address and user, never the password.
func OpenDB(ctx context.Context, o Options) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = o.User, o.Password
	cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", o.Host, o.Port)
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Timeout = 5 * time.Second
	// A *tls.Config cannot travel in a DSN string (FormatDSN drops it), so
	// the connector is built from cfg directly.
	cfg.TLS = o.TLS
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream %s as %s: %w", cfg.Addr, o.User, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("upstream %s as %s: %w%s", cfg.Addr, o.User, err, tlsHint(err, o.TLS))
	}
	return db, nil
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
		return ` (TLS is off: if this account REQUIREs SSL or X509, set tls in [upstream], e.g. tls = "required")`
	case len(c.Certificates) == 0 && c.GetClientCertificate == nil:
		return ` (TLS is on, without a client certificate: if this account REQUIREs X509, SUBJECT or ISSUER, set tls = "custom" with tls_cert and tls_key in [upstream])`
	}
	return ""
}

// erAccessDenied is ER_ACCESS_DENIED_ERROR.
const erAccessDenied = 1045

// NewSource connects to the upstream and reads its identity.
func NewSource(ctx context.Context, o Options) (*Source, error) {
	db, err := OpenDB(ctx, o)
	if err != nil {
		return nil, err
	}
	id, uuid, err := ServerIdentity(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Source{opts: o, db: db, serverID: id, serverUUID: uuid}, nil
}

// DB is the upstream SQL connection.
func (s *Source) DB() *sql.DB { return s.db }

// Close releases the SQL connection.
func (s *Source) Close() error { return s.db.Close() }

// Identity is the upstream's @@server_id and, on MySQL, @@server_uuid.
func (s *Source) Identity() (uint32, string) { return s.serverID, s.serverUUID }

// Stream reads the binlog from pos; see the package function Stream. It
// first checks that pos is still on the upstream, so a purged position
// fails at once with how to recover. The first of concurrent streams
// presents upstream.server_id, the others ephemeral ones (see
// EphemeralServerID).
func (s *Source) Stream(ctx context.Context, from schema.Position, h func(context.Context, *schema.Txn) error) error {
	if err := CheckPurged(ctx, s.db, from.File); err != nil {
		return err
	}
	o := s.opts
	var release func()
	o.ServerID, release = s.takeServerID()
	defer release()
	return Stream(ctx, o, from, h)
}

// CurrentPosition is the upstream's binlog end (SHOW MASTER STATUS).
func (s *Source) CurrentPosition(ctx context.Context) (schema.Position, error) {
	return binlogEnd(ctx, s.db)
}

// GTIDSetAt returns the upstream's GTID set (all transactions up to and
// including) at a binlog position, or "" when the server has no GTIDs or
// cannot say. MariaDB computes it exactly (BINLOG_GTID_POS); MySQL has no
// such function, so only the current position is answered (@@gtid_executed).
func (s *Source) GTIDSetAt(ctx context.Context, pos schema.Position) (string, error) {
	var set sql.NullString
	var err error
	if s.opts.Flavor == gomysql.MySQLFlavor {
		cur, cerr := s.CurrentPosition(ctx)
		if cerr != nil || cur != pos {
			return "", cerr
		}
		err = s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&set)
	} else {
		err = s.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&set)
	}
	if err != nil {
		return "", fmt.Errorf("GTID set at %s: %w", pos, err)
	}
	return set.String, nil
}

// NewGTIDSet parses a GTID set in the upstream's flavor.
func (s *Source) NewGTIDSet(set string) (schema.GTIDSet, error) {
	g, err := ParseGTIDSet(s.opts.Flavor, set)
	if err != nil {
		return nil, err
	}
	return gtidSet{g, s.opts.Flavor}, nil
}

// gtidSet adapts go-mysql's GTID set to schema.GTIDSet.
type gtidSet struct {
	gomysql.GTIDSet
	flavor string
}

func (g gtidSet) Contains(set string) (bool, error) {
	o, err := ParseGTIDSet(g.flavor, set)
	if err != nil {
		return false, err
	}
	return g.Contain(o), nil
}

// StreamFromGTID reads the binlog after a GTID set: for flows whose
// checkpoints were written against another server of the topology.
func (s *Source) StreamFromGTID(ctx context.Context, set string, h func(context.Context, *schema.Txn) error) error {
	o := s.opts
	var release func()
	o.ServerID, release = s.takeServerID()
	defer release()
	return StreamFromGTID(ctx, o, set, h)
}

// ParseGTIDSet parses a GTID set of a flavor ("mariadb" or "mysql"):
// "0-1-42,1-2-7" on MariaDB, "uuid:1-42" on MySQL.
func ParseGTIDSet(flavor, set string) (gomysql.GTIDSet, error) {
	if flavor == "" {
		flavor = gomysql.MariaDBFlavor
	}
	g, err := gomysql.ParseGTIDSet(flavor, set)
	if err != nil {
		return nil, fmt.Errorf("parse %s GTID set %q: %w", flavor, set, err)
	}
	return g, nil
}

// TableColumns returns the columns of each table that exists upstream, in
// ordinal order; missing tables are absent from the map.
func (s *Source) TableColumns(ctx context.Context, tables []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, t := range tables {
		db, name, ok := splitTable(t)
		if !ok {
			return nil, fmt.Errorf("table %q: expected schema.table", t)
		}
		rows, err := s.db.QueryContext(ctx,
			"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", db, name)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t, err)
		}
		var cols []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			cols = append(cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(cols) > 0 {
			out[t] = cols
		}
	}
	return out, nil
}

func splitTable(t string) (string, string, bool) {
	for i := 0; i < len(t); i++ {
		if t[i] == '.' {
			return t[:i], t[i+1:], i > 0 && i < len(t)-1
		}
	}
	return "", "", false
}
