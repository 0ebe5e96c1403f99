package testenv

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestPortFrom(t *testing.T) {
	tests := []struct {
		value string
		def   int
		want  int
	}{
		{"", 3407, 3407},
		{"   ", 3407, 3407},
		{"4000", 3407, 4000},
		{" 4001 ", 3407, 4001},
		{"65535", 1, 65535},
		{"0", 3408, 3408},
		{"-5", 3408, 3408},
		{"65536", 3409, 3409},
		{"abc", 3409, 3409},
		{"3407x", 3409, 3409},
	}
	for _, tt := range tests {
		if got := portFrom(tt.value, tt.def); got != tt.want {
			t.Errorf("portFrom(%q, %d) = %d, want %d", tt.value, tt.def, got, tt.want)
		}
	}
}

func TestAddrFromEnvironment(t *testing.T) {
	tests := []struct {
		name, env, value string
		want             int
		get              func() (string, int)
	}{
		{UpstreamName, "BINFLOW_UPSTREAM_PORT", "", 3407, UpstreamAddr},
		{UpstreamName, "BINFLOW_UPSTREAM_PORT", "13407", 13407, UpstreamAddr},
		{DownstreamName, "BINFLOW_DOWNSTREAM_PORT", "", 3408, DownstreamAddr},
		{DownstreamName, "BINFLOW_DOWNSTREAM_PORT", "13408", 13408, DownstreamAddr},
		{ReplicaName, "BINFLOW_REPLICA_PORT", "", 3409, ReplicaAddr},
		{ReplicaName, "BINFLOW_REPLICA_PORT", "13409", 13409, ReplicaAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			host, port := tt.get()
			if host != "127.0.0.1" || port != tt.want {
				t.Errorf("addr = %s:%d, want 127.0.0.1:%d", host, port, tt.want)
			}
			if got, want := HostPort(tt.name), "127.0.0.1:"+strconv.Itoa(tt.want); got != want {
				t.Errorf("HostPort(%q) = %q, want %q", tt.name, got, want)
			}
		})
	}
}

func TestDSN(t *testing.T) {
	tests := []struct {
		host     string
		port     int
		database string
	}{
		{"127.0.0.1", 3407, ""},
		{"127.0.0.1", 3408, "derived_0a1b2c3d"},
		{"::1", 3409, "shop"},
	}
	for _, tt := range tests {
		s := dsn(tt.host, tt.port, tt.database)
		cfg, err := mysql.ParseDSN(s)
		if err != nil {
			t.Fatalf("ParseDSN(%q): %v", s, err)
		}
		if cfg.User != User || cfg.Passwd != Password || cfg.Net != "tcp" || cfg.DBName != tt.database {
			t.Errorf("dsn %q: user %q pass %q net %q db %q", s, cfg.User, cfg.Passwd, cfg.Net, cfg.DBName)
		}
		if host, port := splitAddr(t, cfg.Addr); host != tt.host || port != strconv.Itoa(tt.port) {
			t.Errorf("dsn %q: addr %q", s, cfg.Addr)
		}
		if !cfg.ParseTime || cfg.Loc != time.UTC || !cfg.MultiStatements || !cfg.InterpolateParams {
			t.Errorf("dsn %q: parseTime %v loc %v multiStatements %v interpolateParams %v",
				s, cfg.ParseTime, cfg.Loc, cfg.MultiStatements, cfg.InterpolateParams)
		}
		if cfg.Timeout <= 0 {
			t.Errorf("dsn %q: no connect timeout", s)
		}
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return strings.Trim(addr[:i], "[]"), addr[i+1:]
}

var identRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

func TestJoinName(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		prefix, suffix, want string
	}{
		{"shop", "0a1b2c3d", "shop_0a1b2c3d"},
		{"Derived", "0a1b2c3d", "derived_0a1b2c3d"},
		{"my-db.test", "00000000", "my_db_test_00000000"},
		{"", "ffffffff", "t_ffffffff"},
		{"a`b'c\"d", "12345678", "a_b_c_d_12345678"},
		{"TestFoo/sub_case", "abcdef01", "testfoo_sub_case_abcdef01"},
		{"ünï", "11111111", "_n__11111111"},
		{long, "22222222", strings.Repeat("x", 55) + "_22222222"},
	}
	for _, tt := range tests {
		got := joinName(tt.prefix, tt.suffix)
		if got != tt.want {
			t.Errorf("joinName(%q, %q) = %q, want %q", tt.prefix, tt.suffix, got, tt.want)
		}
		if !identRE.MatchString(got) {
			t.Errorf("joinName(%q, %q) = %q is not a plain identifier", tt.prefix, tt.suffix, got)
		}
	}
}

func TestDatabaseNameIsUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		name, err := databaseName("t")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^t_[0-9a-f]{8}$`).MatchString(name) {
			t.Fatalf("databaseName = %q", name)
		}
		if seen[name] {
			t.Fatalf("databaseName repeated %q", name)
		}
		seen[name] = true
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory named go.mod must not count.
	if err := os.MkdirAll(filepath.Join(root, "a", "b", "go.mod"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ from, want string }{
		{root, root},
		{filepath.Join(root, "a"), root},
		{deep, root},
		{deep + "/", root},
	}
	for _, tt := range tests {
		got, err := findRoot(tt.from)
		if err != nil || got != tt.want {
			t.Errorf("findRoot(%q) = %q, %v; want %q", tt.from, got, err, tt.want)
		}
	}

	// The real repository: this package's directory is one below the root.
	got, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got, "testenv", "env.sh")); err != nil {
		t.Errorf("RepoRoot() = %q has no testenv/env.sh: %v", got, err)
	}
}

func TestFindRootNoModule(t *testing.T) {
	if _, err := os.Stat("/go.mod"); err == nil {
		t.Skip("/go.mod exists")
	}
	if _, err := findRoot("/"); err == nil {
		t.Error("findRoot(/) found a module")
	}
}

func TestUnreachableMessage(t *testing.T) {
	msg := unreachableMessage(DownstreamName, os.ErrDeadlineExceeded)
	for _, want := range []string{"make testenv-up", "downstream", HostPort(DownstreamName), "testenv/env.sh start downstream"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestRequired(t *testing.T) {
	for value, want := range map[string]bool{"": false, "0": false, "1": true, "true": false} {
		t.Setenv(RequireEnv, value)
		if got := Required(); got != want {
			t.Errorf("Required() with %s=%q = %v, want %v", RequireEnv, value, got, want)
		}
	}
}

func queryString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func TestUpstreamSettings(t *testing.T) {
	db := Upstream(t)
	for q, want := range map[string]string{
		"SELECT @@binlog_format":                 "ROW",
		"SELECT @@binlog_row_image":              "FULL",
		"SELECT @@binlog_row_metadata":           "FULL",
		"SELECT @@log_bin":                       "1",
		"SELECT @@server_id":                     "1",
		"SELECT @@gtid_strict_mode":              "1",
		"SELECT @@log_slave_updates":             "1",
		"SELECT @@time_zone":                     "+00:00",
		"SELECT @@character_set_server":          "utf8mb4",
		"SELECT CURRENT_USER() LIKE 'binflow@%'": "1",
	} {
		if got := queryString(t, db, q); got != want {
			t.Errorf("upstream %s = %q, want %q", q, got, want)
		}
	}
	// The user can read the binlog.
	if got := firstColumn(t, db, "SHOW MASTER STATUS"); !strings.HasPrefix(got, "mysql-bin.") {
		t.Errorf("SHOW MASTER STATUS: file %q", got)
	}
}

// firstColumn is the first column of the first row of a query returning any
// number of columns.
func firstColumn(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("%s: no rows (%v)", q, rows.Err())
	}
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	return string(vals[0])
}

func TestDownstreamSettings(t *testing.T) {
	db := Downstream(t)
	for q, want := range map[string]string{
		"SELECT @@log_bin":                       "0",
		"SELECT @@server_id":                     "2",
		"SELECT @@time_zone":                     "+00:00",
		"SELECT CURRENT_USER() LIKE 'binflow@%'": "1",
	} {
		if got := queryString(t, db, q); got != want {
			t.Errorf("downstream %s = %q, want %q", q, got, want)
		}
	}
}

func TestFreshDatabase(t *testing.T) {
	db := Downstream(t)
	var name string
	t.Run("use", func(t *testing.T) {
		name = FreshDatabase(t, db, "testenv")
		if !strings.HasPrefix(name, "testenv_") {
			t.Errorf("name %q", name)
		}
		if _, err := db.Exec("CREATE TABLE `"+name+"`.t (id INT PRIMARY KEY, at DATETIME(6)); "+
			"INSERT INTO `"+name+"`.t VALUES (?, ?)", 1, time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		if err := db.QueryRow("SELECT at FROM `" + name + "`.t WHERE id = 1").Scan(&at); err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC); !at.Equal(want) || at.Location() != time.UTC {
			t.Errorf("at = %v, want %v (UTC)", at, want)
		}
	})
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after the subtest", name)
	}
}

// TestStopStartServer round-trips the replica (not needed by other packages'
// tests, so this never disturbs them) through StartServer and StopServer, and
// leaves it as it found it.
func TestStopStartServer(t *testing.T) {
	Upstream(t) // skip when there is no test environment at all
	wasRunning := reachable(ReplicaName)
	StartServer(t, ReplicaName)
	db := Replica(t)
	if got := queryString(t, db, "SELECT @@server_id"); got != "3" {
		t.Errorf("replica server_id = %q, want 3", got)
	}
	StartServer(t, ReplicaName) // idempotent
	StopServer(t, ReplicaName)
	if reachable(ReplicaName) {
		t.Errorf("replica still reachable after StopServer")
	}
	StopServer(t, ReplicaName) // idempotent
	if wasRunning {
		StartServer(t, ReplicaName)
	}
}

func reachable(name string) bool {
	db, err := sql.Open("mysql", DSN(name, ""))
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}
