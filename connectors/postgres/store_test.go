package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors/internal/storetest"
	postgresconn "github.com/binflow/binflow/connectors/postgres"
	"github.com/binflow/binflow/testenv"
)

func options(t testing.TB, database string) postgresconn.Options {
	t.Helper()
	host, port := testenv.PostgresAddr()
	return postgresconn.Options{Host: host, Port: port, User: testenv.User, Password: testenv.Password, Database: database}
}

// openFresh opens a store on a fresh database of the test server.
func openFresh(t testing.TB) *postgresconn.Store {
	t.Helper()
	name := testenv.FreshPostgresDatabase(t, testenv.Postgres(t), "conn")
	s, err := postgresconn.Open(context.Background(), options(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var harness = storetest.Harness{
	Open:             func(t *testing.T) storetest.Store { return openFresh(t) },
	MigrationsSubdir: "postgres",
	TimeText:         func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	TooLong:          strings.Repeat("x", 21),
	Schema:           func(storetest.Store) string { return "public" },
	ErrNotMigrated:   postgresconn.ErrNotMigrated,
	DDL: map[string]string{
		"vals": `CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT NULL, u NUMERIC(20,0) NULL, d NUMERIC(65,30) NULL,
			s VARCHAR(100) NULL, b BYTEA NULL, ts TIMESTAMP(6) NULL)`,
		"daily": `CREATE TABLE daily (day DATE, shop VARCHAR(20), n BIGINT NOT NULL, PRIMARY KEY (day, shop))`,
		"wide": `CREATE TABLE wide (id BIGINT PRIMARY KEY, k BIGINT NOT NULL, amount NUMERIC(12,2) NOT NULL,
			pad VARCHAR(1000) NOT NULL, at TIMESTAMP(6) NOT NULL)`,
		"history": `CREATE TABLE history (seq BIGINT PRIMARY KEY, what TEXT NOT NULL)`,
		"state":   `CREATE TABLE state (g BIGINT, v NUMERIC(12,2), n BIGINT NOT NULL, PRIMARY KEY (g, v))`,
		"stats": `CREATE TABLE stats (g BIGINT PRIMARY KEY, cnt BIGINT NOT NULL, total NUMERIC(30,2) NOT NULL,
			lo NUMERIC(12,2) NULL, hi NUMERIC(12,2) NULL, distinct_v BIGINT NULL, mean NUMERIC(20,4) NULL)`,
		"hostile": `CREATE TABLE %[1]s (%[2]s BIGINT PRIMARY KEY, %[3]s VARCHAR(50) NULL, %[4]s BIGINT NOT NULL DEFAULT 0)`,
	},
}

func TestStore(t *testing.T) { storetest.Run(t, harness) }

func TestOpenWrongPassword(t *testing.T) {
	const password = "not-the-Password-42"
	o := options(t, testenv.PostgresDatabase)
	o.Password = password
	testenv.Postgres(t) // skips or fails when the server is not there
	s, err := postgresconn.Open(context.Background(), o)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("error contains the password: %s", msg)
	}
	for _, w := range []string{testenv.HostPort(testenv.PostgresName), strconv.Quote(o.User), "28P01"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if postgresconn.Retryable(err) {
		t.Errorf("a wrong password is retryable: %v", err)
	}
}

func TestOpenUnreachableIsRetryable(t *testing.T) {
	o := options(t, "x")
	o.Port = 1 // nothing listens there
	s, err := postgresconn.Open(context.Background(), o)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if !postgresconn.Retryable(err) {
		t.Errorf("Retryable(%v) = false", err)
	}
}

func BenchmarkApplyUpsert(b *testing.B) { storetest.BenchmarkUpsert(b, openFresh(b)) }
func BenchmarkApplyDelta(b *testing.B)  { storetest.BenchmarkDelta(b, openFresh(b)) }
