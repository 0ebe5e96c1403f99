package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/storetest"
	sqliteconn "github.com/binflow/binflow/connectors/sqlite"
)

func openAt(t testing.TB, path string, busy time.Duration) *sqliteconn.Store {
	t.Helper()
	s, err := sqliteconn.Open(context.Background(), sqliteconn.Options{Path: path, BusyTimeout: busy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var harness = storetest.Harness{
	Open: func(t *testing.T) storetest.Store {
		return openAt(t, filepath.Join(t.TempDir(), "binflow.db"), 0)
	},
	MigrationsSubdir: "sqlite",
	TimeText:         func(t time.Time) string { return t.UTC().Format(sqliteconn.TimeLayout) },
	TooLong:          strings.Repeat("x", 21),
	Schema:           func(storetest.Store) string { return "main" },
	ErrNotMigrated:   sqliteconn.ErrNotMigrated,
	DDL: map[string]string{
		"vals": `CREATE TABLE vals (id INTEGER PRIMARY KEY, i INTEGER NULL, u TEXT NULL, d TEXT NULL,
			s TEXT NULL, b BLOB NULL, ts TEXT NULL) STRICT`,
		"daily": `CREATE TABLE daily (day TEXT, shop TEXT, n INTEGER NOT NULL, PRIMARY KEY (day, shop)) STRICT`,
		"wide": `CREATE TABLE wide (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, amount TEXT NOT NULL,
			pad TEXT NOT NULL, at TEXT NOT NULL) STRICT`,
		"history": `CREATE TABLE history (seq INTEGER PRIMARY KEY, what TEXT NOT NULL) STRICT`,
		"state":   `CREATE TABLE state (g INTEGER, v TEXT, n INTEGER NOT NULL, PRIMARY KEY (g, v)) STRICT`,
		"stats": `CREATE TABLE stats (g INTEGER PRIMARY KEY, cnt INTEGER NOT NULL, total TEXT NOT NULL,
			lo TEXT NULL, hi TEXT NULL, distinct_v INTEGER NULL, mean TEXT NULL) STRICT`,
		"hostile": `CREATE TABLE %[1]s (%[2]s INTEGER PRIMARY KEY, %[3]s TEXT NULL, %[4]s INTEGER NOT NULL DEFAULT 0) STRICT`,
	},
}

func TestStore(t *testing.T) { storetest.Run(t, harness) }

// TestBusyIsRetryable holds the write lock from a second store on the same
// file: the first one's Apply waits its busy timeout, then fails
// retryably, and succeeds once the lock is released.
func TestBusyIsRetryable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	s := openAt(t, path, 50*time.Millisecond)
	if _, err := s.Migrate(context.Background(), storetest.MigrationsDir); err != nil {
		t.Fatal(err)
	}
	other := openAt(t, path, 0)
	tx, err := other.DB().Begin() // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	batch := &connectors.Batch{Checkpoint: storetest.Checkpoint("busy", 1)}
	err = s.Apply(context.Background(), batch)
	if err == nil || !s.Retryable(err) {
		t.Fatalf("Apply while another process writes: %v (retryable %v)", err, s.Retryable(err))
	}
	t.Log(err)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), batch); err != nil {
		t.Fatalf("Apply after the lock was released: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"empty", "", "path is empty"},
		{"query in path", "a?b.db", "path contains"},
		{"missing folder", filepath.Join(t.TempDir(), "no", "such", "dir.db"), "unable to open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqliteconn.Open(context.Background(), sqliteconn.Options{Path: tt.path})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if sqliteconn.Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		a, b    any
		want    any
		wantErr string
	}{
		{int64(1), int64(2), int64(3), ""},
		{int64(9223372036854775807), int64(1), nil, "overflow"},
		{int64(-9223372036854775808), int64(-1), nil, "overflow"},
		{"1.50", "0.25", "1.75", ""},
		{"1.50", int64(2), "3.50", ""},
		{"0.01", "-0.01", "0.00", ""},
		{"99999999999999999999999999999999999.999999999999999999999999999999", "0.000000000000000000000000000001",
			"100000000000000000000000000000000000.000000000000000000000000000000", ""},
		{nil, int64(1), nil, ""},
		{"abc", int64(1), nil, "not a decimal"},
		{[]byte("2.5"), "1", "3.5", ""},
	}
	for _, tt := range tests {
		got, err := sqliteconn.Add(tt.a, tt.b)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Add(%v, %v) = %v, %v; want error %q", tt.a, tt.b, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Add(%v, %v) = %#v, %v; want %#v", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestDivAndCollation(t *testing.T) {
	divs := []struct {
		a, b, want any
	}{
		{"25.25", int64(4), "6.312500"},
		{int64(7), int64(2), "3.5000"},
		{"1.00", int64(3), "0.333333"},
		{"-1.00", int64(3), "-0.333333"},
		{"1.00", int64(0), nil},
		{"1.00", "0.00", nil},
		{nil, int64(1), nil},
	}
	for _, tt := range divs {
		if got, err := sqliteconn.Div(tt.a, tt.b); err != nil || got != tt.want {
			t.Errorf("Div(%v, %v) = %#v, %v; want %#v", tt.a, tt.b, got, err, tt.want)
		}
	}
	cmps := []struct {
		a, b string
		want int
	}{
		{"9.50", "10.00", -1},
		{"-3.25", "-10", 1},
		{"1.0", "1.00", -1}, // equal numbers: text order keeps the collation total
		{"abc", "abd", -1},
		{"10", "abc", -1},
		{"2025-01-02 00:00:00.000000", "2025-01-10 00:00:00.000000", -1},
	}
	for _, tt := range cmps {
		if got := sqliteconn.CompareDecimalText(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareDecimalText(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkApplyUpsert(b *testing.B) {
	storetest.BenchmarkUpsert(b, openAt(b, filepath.Join(b.TempDir(), "bench.db"), 0))
}

func BenchmarkApplyDelta(b *testing.B) {
	storetest.BenchmarkDelta(b, openAt(b, filepath.Join(b.TempDir(), "bench.db"), 0))
}
