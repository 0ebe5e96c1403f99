// Package testenv gives integration tests connections to the sandboxed MariaDB
// servers that testenv/env.sh runs on loopback:
//
//   - upstream   (BINFLOW_UPSTREAM_PORT, default 3407): binlog on, ROW, FULL
//     row image and metadata, GTID strict mode; the source binflow reads.
//   - downstream (BINFLOW_DOWNSTREAM_PORT, default 3408): no binlog; where
//     derived tables are written.
//   - replica    (BINFLOW_REPLICA_PORT, default 3409): no binlog; a native
//     MariaDB replica for benchmarks (env.sh replica-from FILE POS).
//   - postgres   (BINFLOW_POSTGRES_PORT, default 3410): PostgreSQL, a
//     downstream store; Postgres and FreshPostgresDatabase.
//
// Every server has the user binflow/binflow with all privileges, reachable at
// 127.0.0.1. Upstream and downstream also offer TLS (certificates from a test
// CA, see TLSDir) and have TLSUser, who must use it (OpenTLS). Start them
// with `make testenv-up`. When a server is unreachable
// the test is skipped, or fails when BINFLOW_REQUIRE_TESTENV=1 (as `make test`
// sets), so that a broken environment never passes as a green run.
//
// Packages share the servers: give every test its own database with
// FreshDatabase, and run packages one at a time (go test -p 1).
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// User and Password are the account env.sh creates on every server.
const User, Password = "binflow", "binflow"

// Host is the address every server listens on.
const Host = "127.0.0.1"

// Names of the servers, as env.sh and StopServer/StartServer take them.
const (
	UpstreamName   = "upstream"
	DownstreamName = "downstream"
	ReplicaName    = "replica"
	PostgresName   = "postgres"
)

// PostgresDatabase is the database env.sh creates on the postgres server,
// owned by User.
const PostgresDatabase = "binflow"

// RequireEnv is the environment variable that turns a missing server from a
// skip into a failure.
const RequireEnv = "BINFLOW_REQUIRE_TESTENV"

// pingTimeout bounds the reachability check of Upstream/Downstream/Replica.
const pingTimeout = 5 * time.Second

type server struct {
	name        string
	portEnv     string
	defaultPort int
}

var servers = map[string]server{
	UpstreamName:   {UpstreamName, "BINFLOW_UPSTREAM_PORT", 3407},
	DownstreamName: {DownstreamName, "BINFLOW_DOWNSTREAM_PORT", 3408},
	ReplicaName:    {ReplicaName, "BINFLOW_REPLICA_PORT", 3409},
	PostgresName:   {PostgresName, "BINFLOW_POSTGRES_PORT", 3410},
}

// Required reports whether the servers must be there (BINFLOW_REQUIRE_TESTENV=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Upstream opens a connection pool to the upstream server as binflow, closed
// when the test ends. It skips (or fails, see Required) when unreachable.
func Upstream(t testing.TB) *sql.DB { t.Helper(); return open(t, UpstreamName) }

// Downstream is Upstream for the downstream server.
func Downstream(t testing.TB) *sql.DB { t.Helper(); return open(t, DownstreamName) }

// Replica is Upstream for the replica server. `make testenv-up` does not start
// it: `make bench` or `testenv/env.sh start replica` does.
func Replica(t testing.TB) *sql.DB { t.Helper(); return open(t, ReplicaName) }

// Postgres opens a pool (driver "pgx") to the postgres server's database
// PostgresDatabase as User, closed when the test ends. It skips (or fails,
// see Required) when unreachable. `make testenv-up` starts the server.
func Postgres(t testing.TB) *sql.DB { t.Helper(); return open(t, PostgresName) }

// PostgresAddr is where the postgres server listens.
func PostgresAddr() (host string, port int) { return addr(PostgresName) }

// PostgresDSN is a pgx connection URL for a database of the postgres server
// as User ("" is PostgresDatabase).
func PostgresDSN(database string) string {
	if database == "" {
		database = PostgresDatabase
	}
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&timezone=UTC&connect_timeout=5", User, Password, HostPort(PostgresName), database)
}

// FreshPostgresDatabase creates a database named prefix plus a random
// suffix on the postgres server (db is a pool from Postgres), drops it when
// the test ends, and returns its name (a plain lower-case identifier).
func FreshPostgresDatabase(t testing.TB, db *sql.DB, prefix string) string {
	t.Helper()
	name, err := databaseName(prefix)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`" ENCODING 'UTF8' TEMPLATE template0`); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return name
}

// UpstreamAddr is where the upstream server listens.
func UpstreamAddr() (host string, port int) { return addr(UpstreamName) }

// DownstreamAddr is where the downstream server listens.
func DownstreamAddr() (host string, port int) { return addr(DownstreamName) }

// ReplicaAddr is where the replica server listens.
func ReplicaAddr() (host string, port int) { return addr(ReplicaName) }

// HostPort is "host:port" of the named server, for net.Dial and DSNs.
func HostPort(name string) string {
	host, port := addr(name)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// DSN is a go-sql-driver/mysql data source name for the named server as
// binflow, with the options the tests rely on (UTC times, multi statements,
// client-side interpolation). database may be empty.
func DSN(name, database string) string {
	host, port := addr(name)
	return dsn(host, port, database)
}

func dsn(host string, port int, database string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true&loc=UTC&multiStatements=true&interpolateParams=true&timeout=5s",
		User, Password, net.JoinHostPort(host, strconv.Itoa(port)), database)
}

func addr(name string) (string, int) {
	s, ok := servers[name]
	if !ok {
		panic(fmt.Sprintf("testenv: unknown server %q (want upstream, downstream, replica or postgres)", name))
	}
	return Host, portFrom(os.Getenv(s.portEnv), s.defaultPort)
}

// portFrom parses a port from an environment value, falling back to def when
// the value is empty or not a valid port.
func portFrom(value string, def int) int {
	value = strings.TrimSpace(value)
	if value == "" {
		return def
	}
	p, err := strconv.Atoi(value)
	if err != nil || p <= 0 || p > 65535 {
		return def
	}
	return p
}

func unreachableMessage(name string, err error) string {
	what := "MariaDB"
	if name == PostgresName {
		what = "PostgreSQL"
	}
	return fmt.Sprintf("testenv: %s %s at %s is not reachable (%v); run `make testenv-up` (or `testenv/env.sh start %s`) first",
		name, what, HostPort(name), err, name)
}

func open(t testing.TB, name string) *sql.DB {
	t.Helper()
	driver, dsn := "mysql", DSN(name, "")
	if name == PostgresName {
		driver, dsn = "pgx", PostgresDSN("")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testenv: open %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		msg := unreachableMessage(name, err)
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// FreshDatabase creates a database named prefix plus a random suffix on db's
// server, drops it when the test ends, and returns its name (a plain
// identifier: lower-case letters, digits and underscores; no quoting needed).
func FreshDatabase(t testing.TB, db *sql.DB, prefix string) string {
	t.Helper()
	name, err := databaseName(prefix)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return name
}

// maxIdent is MariaDB's limit on database names.
const maxIdent = 64

// databaseName is sanitize(prefix) + "_" + 8 random hex digits.
func databaseName(prefix string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random database suffix: %w", err)
	}
	return joinName(prefix, hex.EncodeToString(b[:])), nil
}

func joinName(prefix, suffix string) string {
	p := sanitize(prefix)
	if p == "" {
		p = "t"
	}
	if max := maxIdent - len(suffix) - 1; len(p) > max {
		p = p[:max]
	}
	return p + "_" + suffix
}

// sanitize lower-cases s and keeps only [a-z0-9_], mapping anything else to
// '_' (so names never need quoting and are equal on case-insensitive
// filesystems).
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// StopServer stops the named server through testenv/env.sh (for outage
// tests) and waits until it is gone. For upstream and downstream, which every
// later test needs, it also registers a cleanup that starts the server again
// should the test end without doing so.
func StopServer(t testing.TB, name string) {
	t.Helper()
	if _, ok := servers[name]; !ok {
		t.Fatalf("testenv: unknown server %q", name)
	}
	if err := runEnv("stop", name); err != nil {
		t.Fatalf("testenv: stop %s: %v", name, err)
	}
	if name == UpstreamName || name == DownstreamName || name == PostgresName {
		t.Cleanup(func() {
			if err := runEnv("start", name); err != nil {
				t.Errorf("testenv: restart %s after the test: %v", name, err)
			}
		})
	}
}

// FreezeServer stops the named MariaDB server's process with SIGSTOP
// (testenv/env.sh freeze): it keeps its connections and accepts new ones,
// but answers nothing, like a hung server. It returns thaw (SIGCONT), also
// registered as a cleanup so that no later test finds the server frozen;
// calling thaw twice is harmless.
func FreezeServer(t testing.TB, name string) (thaw func()) {
	t.Helper()
	if _, ok := servers[name]; !ok || name == PostgresName {
		t.Fatalf("testenv: cannot freeze server %q", name)
	}
	if err := runEnv("freeze", name); err != nil {
		t.Fatalf("testenv: freeze %s: %v", name, err)
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		if err := runEnv("thaw", name); err != nil {
			t.Errorf("testenv: thaw %s: %v", name, err)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// StartServer starts the named server through testenv/env.sh and waits until
// it answers. Starting a running server is a no-op.
func StartServer(t testing.TB, name string) {
	t.Helper()
	if _, ok := servers[name]; !ok {
		t.Fatalf("testenv: unknown server %q", name)
	}
	if err := runEnv("start", name); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
}

// PostgresSuperuser runs statements on the postgres server as its superuser
// (testenv/env.sh psql), for what the binflow role may not do, such as
// creating roles.
func PostgresSuperuser(t testing.TB, statements string) {
	t.Helper()
	if err := runEnv("psql", "-c", statements); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// envTimeout bounds one env.sh call (a first start initialises a data dir).
const envTimeout = 3 * time.Minute

func runEnv(args ...string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), envTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "testenv", "env.sh")}, args...)...)
	cmd.Dir = root
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv/env.sh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// RepoRoot is the directory holding go.mod, found by walking up from the
// working directory (go test runs in the package's directory).
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(wd)
}

func findRoot(dir string) (string, error) {
	dir = filepath.Clean(dir)
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod found in the working directory or above")
		}
		dir = parent
	}
}
