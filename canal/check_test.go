package canal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/testenv"
)

func privileges(names ...string) map[string]bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return set
}

func TestCheckParseGrant(t *testing.T) {
	tests := []struct {
		name string
		line string
		want checkGrant
		ok   bool
	}{
		{"MariaDB root", "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION",
			checkGrant{privileges("ALL PRIVILEGES"), "*", "*"}, true},
		{"MariaDB replication user with password hash", "GRANT SELECT, RELOAD, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `binflow`@`%` IDENTIFIED BY PASSWORD '*A4B6157319038724E3560894F7F932C8886EBFCF'",
			checkGrant{privileges("SELECT", "RELOAD", "BINLOG MONITOR", "REPLICATION SLAVE"), "*", "*"}, true},
		{"replication slave and client", "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'binflow'@'%'",
			checkGrant{privileges("REPLICATION SLAVE", "REPLICATION CLIENT"), "*", "*"}, true},
		{"usage only", "GRANT USAGE ON *.* TO `reader`@`%`",
			checkGrant{privileges("USAGE"), "*", "*"}, true},
		{"database level", "GRANT SELECT ON `shop`.* TO `reader`@`%`",
			checkGrant{privileges("SELECT"), "shop", "*"}, true},
		{"database level, MySQL 8 lower case keywords", "grant select on `shop`.* to `reader`@`%`",
			checkGrant{privileges("SELECT"), "shop", "*"}, true},
		{"table level", "GRANT SELECT, INSERT ON `shop`.`orders` TO `app`@`10.0.0.%`",
			checkGrant{privileges("SELECT", "INSERT"), "shop", "orders"}, true},
		{"TABLE keyword", "GRANT SELECT ON TABLE `shop`.`orders` TO `app`@`%`",
			checkGrant{privileges("SELECT"), "shop", "orders"}, true},
		{"column privileges are left out", "GRANT SELECT (`id`, `amount`), UPDATE (`status`), INSERT ON `shop`.`orders` TO `app`@`%`",
			checkGrant{privileges("INSERT"), "shop", "orders"}, true},
		{"MySQL 8 dynamic privileges without spaces", "GRANT BACKUP_ADMIN,BINLOG_ADMIN,CONNECTION_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `root`@`localhost` WITH GRANT OPTION",
			checkGrant{privileges("BACKUP_ADMIN", "BINLOG_ADMIN", "CONNECTION_ADMIN", "REPLICATION_SLAVE_ADMIN"), "*", "*"}, true},
		{"MySQL 8 static privileges", "GRANT SELECT, RELOAD, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `binflow`@`%`",
			checkGrant{privileges("SELECT", "RELOAD", "PROCESS", "REPLICATION SLAVE", "REPLICATION CLIENT"), "*", "*"}, true},
		{"escaped wildcard in database", "GRANT SELECT ON `shop\\_db`.* TO `u`@`%`",
			checkGrant{privileges("SELECT"), "shop\\_db", "*"}, true},
		{"doubled backtick", "GRANT SELECT ON `we``ird`.* TO `u`@`%`",
			checkGrant{privileges("SELECT"), "we`ird", "*"}, true},
		{"ON and TO inside quoted names", "GRANT SELECT ON `db ON x`.`t TO y` TO `u`@`%`",
			checkGrant{privileges("SELECT"), "db ON x", "t TO y"}, true},
		{"bare names", "GRANT SELECT ON shop.orders TO u@localhost",
			checkGrant{privileges("SELECT"), "shop", "orders"}, true},
		{"role grant", "GRANT `analyst` TO `bob`@`%`", checkGrant{}, false},
		{"role grant with admin option", "GRANT `analyst` TO `bob`@`%` WITH ADMIN OPTION", checkGrant{}, false},
		{"proxy", "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION", checkGrant{}, false},
		{"procedure", "GRANT EXECUTE ON PROCEDURE `shop`.`refresh` TO `u`@`%`", checkGrant{}, false},
		{"function", "GRANT EXECUTE ON FUNCTION `shop`.`f` TO `u`@`%`", checkGrant{}, false},
		{"not a grant", "REVOKE SELECT ON *.* FROM `u`@`%`", checkGrant{}, false},
		{"unterminated quote", "GRANT SELECT ON `shop.* TO `u`@`%`", checkGrant{}, false},
		{"empty", "", checkGrant{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := checkParseGrant(tt.line)
			if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("checkParseGrant(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func mustGrants(t *testing.T, lines ...string) checkGrantSet {
	t.Helper()
	var set checkGrantSet
	for _, line := range lines {
		g, ok := checkParseGrant(line)
		if !ok {
			t.Fatalf("cannot parse %q", line)
		}
		set = append(set, g)
	}
	return set
}

func TestCheckGrantSetCoverage(t *testing.T) {
	tests := []struct {
		name        string
		lines       []string
		replication bool // REPLICATION SLAVE on *.*
		listing     bool // REPLICATION CLIENT or BINLOG MONITOR on *.*
		selects     map[string]bool
	}{
		{"all privileges", []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"},
			true, true, map[string]bool{"shop.orders": true, "other.t": true}},
		{"the documented grant", []string{"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `binflow`@`%`"},
			true, true, map[string]bool{"shop.orders": true}},
		{"MariaDB 10.5+ names", []string{"GRANT SELECT, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `binflow`@`%`"},
			true, true, map[string]bool{"shop.orders": true}},
		{"SELECT on one database only", []string{
			"GRANT USAGE ON *.* TO `reader`@`%`",
			"GRANT SELECT ON `shop`.* TO `reader`@`%`",
		}, false, false, map[string]bool{"shop.orders": true, "shop2.orders": false}},
		{"ALL PRIVILEGES on a database is not global", []string{"GRANT ALL PRIVILEGES ON `shop`.* TO `u`@`%`"},
			false, false, map[string]bool{"shop.orders": true, "billing.invoices": false}},
		{"table grant covers that table only", []string{"GRANT SELECT ON `shop`.`orders` TO `u`@`%`"},
			false, false, map[string]bool{"shop.orders": true, "shop.customers": false}},
		{"database wildcard", []string{"GRANT SELECT ON `shop%`.* TO `u`@`%`"},
			false, false, map[string]bool{"shop.orders": true, "shop_eu.orders": true, "bshop.orders": false}},
		{"escaped underscore is literal", []string{"GRANT SELECT ON `shop\\_eu`.* TO `u`@`%`"},
			false, false, map[string]bool{"shop_eu.orders": true, "shopXeu.orders": false}},
		{"unescaped underscore matches one character", []string{"GRANT SELECT ON `shop_eu`.* TO `u`@`%`"},
			false, false, map[string]bool{"shopXeu.orders": true, "shopXXeu.orders": false}},
		{"column privileges do not give SELECT", []string{"GRANT SELECT (`id`) ON `shop`.`orders` TO `u`@`%`"},
			false, false, map[string]bool{"shop.orders": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grants := mustGrants(t, tt.lines...)
			if got := grants.global("REPLICATION SLAVE", "REPLICATION REPLICA"); got != tt.replication {
				t.Errorf("replication = %v, want %v", got, tt.replication)
			}
			if got := grants.global("REPLICATION CLIENT", "BINLOG MONITOR"); got != tt.listing {
				t.Errorf("listing = %v, want %v", got, tt.listing)
			}
			for table, want := range tt.selects {
				database, name, _ := strings.Cut(table, ".")
				if got := grants.onTable("SELECT", database, name); got != want {
					t.Errorf("SELECT on %s = %v, want %v", table, got, want)
				}
			}
		})
	}
}

func TestCheckBinlogSettings(t *testing.T) {
	good := map[string]string{
		"version": "10.11.19-MariaDB", "log_bin": "ON", "binlog_format": "ROW",
		"binlog_row_image": "FULL", "binlog_row_metadata": "FULL",
	}
	with := func(key, value string) map[string]string {
		vars := map[string]string{}
		for k, v := range good {
			vars[k] = v
		}
		if value == "" {
			delete(vars, key)
		} else {
			vars[key] = value
		}
		return vars
	}
	tests := []struct {
		name    string
		vars    map[string]string
		setting string
		found   string
		fix     string
		warning bool // not fatal
	}{
		{"all good", good, "", "", "", false},
		{"binlog off", with("log_bin", "OFF"), "log_bin", "OFF", "restart", false},
		{"statement format", with("binlog_format", "STATEMENT"), "binlog_format", "STATEMENT", "SET GLOBAL binlog_format = 'ROW'", false},
		{"mixed format", with("binlog_format", "MIXED"), "binlog_format", "MIXED", "sessions already connected keep their old format", false},
		{"minimal image", with("binlog_row_image", "MINIMAL"), "binlog_row_image", "MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'", false},
		{"minimal metadata", with("binlog_row_metadata", "MINIMAL"), "binlog_row_metadata", "MINIMAL", "SET GLOBAL binlog_row_metadata = 'FULL'", true},
		{"no metadata", with("binlog_row_metadata", "NO_LOG"), "binlog_row_metadata", "NO_LOG", "SET GLOBAL binlog_row_metadata = 'FULL'", false},
		{"server too old", with("binlog_row_metadata", ""), "binlog_row_metadata",
			"no such variable: server 10.11.19-MariaDB is too old", "upgrade to MariaDB 10.5 or later", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkBinlogSettings(tt.vars)
			if tt.setting == "" {
				if len(problems) != 0 {
					t.Fatalf("problems = %v, want none", problems)
				}
				return
			}
			if len(problems) != 1 {
				t.Fatalf("problems = %v, want one about %s", problems, tt.setting)
			}
			p := problems[0]
			if p.Setting != tt.setting || p.Found != tt.found || !strings.Contains(p.Fix, tt.fix) || p.Fatal == tt.warning {
				t.Errorf("problem = %+v; want setting %q, found %q, fatal %v, fix containing %q", p, tt.setting, tt.found, !tt.warning, tt.fix)
			}
		})
	}
}

func TestCheckFlavor(t *testing.T) {
	tests := []struct {
		flavor, version string
		wantProblem     bool
	}{
		{"mariadb", "10.11.19-MariaDB-0+deb12u1-log", false},
		{"mysql", "8.0.36", false},
		{"mysql", "10.11.19-MariaDB", true},
		{"mariadb", "8.4.0", true},
	}
	for _, tt := range tests {
		problems := checkFlavor(tt.flavor, map[string]string{"version": tt.version})
		if (len(problems) > 0) != tt.wantProblem {
			t.Errorf("checkFlavor(%q, %q) = %v, want problem %v", tt.flavor, tt.version, problems, tt.wantProblem)
		}
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Setting: "binlog_format", Found: "STATEMENT", Fix: "SET GLOBAL binlog_format = 'ROW'", Fatal: true},
			"error: binlog_format: STATEMENT; fix: SET GLOBAL binlog_format = 'ROW'"},
		{Problem{Setting: "x", Found: "y", Fix: "z"}, "warning: x: y; fix: z"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestCheckBinlogLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"mariadb-bin.000001", "mariadb-bin.000002", true},
		{"mariadb-bin.000002", "mariadb-bin.000001", false},
		{"mariadb-bin.999999", "mariadb-bin.1000000", true}, // past the zero padding
		{"mariadb-bin.000001", "mariadb-bin.000001", false},
		{"a-bin.000009", "b-bin.000001", true},
	}
	for _, tt := range tests {
		if got := checkBinlogLess(tt.a, tt.b); got != tt.want {
			t.Errorf("checkBinlogLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCheckQuoting(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{checkQuoteAccount("binflow@%"), "'binflow'@'%'"},
		{checkQuoteAccount("o'brien@localhost"), "'o''brien'@'localhost'"},
		{checkQuoteAccount("we@ird@10.0.0.1"), "'we@ird'@'10.0.0.1'"},
		{checkQuoteIdentifier("shop"), "`shop`"},
		{checkQuoteIdentifier("we`ird"), "`we``ird`"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

// Integration tests against testenv's upstream (MariaDB, ROW/FULL/FULL,
// server_id 1, user binflow with ALL PRIVILEGES). They skip when it is down.

func checkTestContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkTestReplicaID is a server_id nothing in testenv uses.
const checkTestReplicaID = 4001

func TestCheckCleanUpstream(t *testing.T) {
	db := testenv.Upstream(t)
	ctx := checkTestContext(t)
	problems, err := Check(ctx, db, "mariadb", checkTestReplicaID, []string{"shop.orders", "other.things"})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(problems) != 0 {
		t.Errorf("Check found problems on a well-configured upstream: %v", problems)
	}
}

func TestCheckWrongFlavor(t *testing.T) {
	db := testenv.Upstream(t)
	problems, err := Check(checkTestContext(t), db, "mysql", checkTestReplicaID, nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	checkExpectProblem(t, problems, "upstream.flavor (config.toml)", `"mysql", but the server is mariadb`, `flavor = "mariadb"`)
}

func TestCheckServerIDClash(t *testing.T) {
	db := testenv.Upstream(t)
	ctx := checkTestContext(t)
	upstreamID, _, err := ServerIdentity(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := Check(ctx, db, "mariadb", upstreamID, nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	checkExpectProblem(t, problems, "upstream.server_id (config.toml)",
		fmt.Sprintf("%d, the upstream's own @@server_id", upstreamID), "set server_id under [upstream]")
}

// TestCheckServerIDOfConnectedReplica connects a binlog reader with a
// server_id and checks that Check warns about reusing it. A warning, not an
// error: after kill -9 the dead binflow stays listed for a while, and the
// upstream replaces a replica that registers with the same id.
func TestCheckServerIDOfConnectedReplica(t *testing.T) {
	db := testenv.Upstream(t)
	ctx := checkTestContext(t)
	o := testOptions()
	o.ServerID = 4343
	src, err := NewSource(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pos, err := src.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Stream(streamCtx, o, pos, func(context.Context, *schema.Txn) error { return nil }) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		replicas, err := checkConnectedReplicas(ctx, db, "mariadb")
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(replicas, func(r checkReplica) bool { return r.serverID == o.ServerID }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader with server_id %d never showed among the upstream's replicas: %v", o.ServerID, replicas)
		}
		time.Sleep(50 * time.Millisecond)
	}
	problems, err := Check(ctx, db, "mariadb", o.ServerID, nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(problems) != 1 || problems[0].Fatal || !strings.Contains(problems[0].Found, "already used by a replica connected from") ||
		!strings.Contains(problems[0].Fix, "set server_id") {
		t.Fatalf("problems = %v, want one warning about the server_id in use", problems)
	}
}

func TestCheckUserWithOnlySelect(t *testing.T) {
	admin := testenv.Upstream(t)
	ctx := checkTestContext(t)
	database := testenv.FreshDatabase(t, admin, "check_grants")
	if _, err := admin.ExecContext(ctx, "CREATE TABLE `"+database+"`.orders (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	user, password := database, "check-grants-pw" // FreshDatabase's name is unique and plain
	host, port := testenv.UpstreamAddr()
	account := fmt.Sprintf("'%s'@'%s'", user, host)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", account, password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP USER IF EXISTS "+account); err != nil {
			t.Errorf("drop user %s: %v", account, err)
		}
	})
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("GRANT SELECT ON `%s`.* TO %s", database, account)); err != nil {
		t.Fatal(err)
	}

	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net = user, password, "tcp"
	cfg.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	limited, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()

	problems, err := Check(ctx, limited, "mariadb", checkTestReplicaID, []string{database + ".orders", "shop.orders"})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, p := range problems {
		t.Log(p)
	}
	grantee := fmt.Sprintf("'%s'@'%s'", user, host)
	checkExpectProblem(t, problems, "privilege REPLICATION SLAVE", "not granted to "+grantee, "GRANT REPLICATION SLAVE ON *.* TO "+grantee)
	checkExpectProblem(t, problems, "privilege BINLOG MONITOR", "not granted to "+grantee, "GRANT BINLOG MONITOR ON *.* TO "+grantee)
	checkExpectProblem(t, problems, "privilege SELECT on shop.orders", "not granted to "+grantee, "GRANT SELECT ON `shop`.* TO "+grantee)
	for _, p := range problems {
		if strings.Contains(p.Setting, database) {
			t.Errorf("SELECT on %s is granted, yet Check reports %v", database, p)
		}
		if want := strings.TrimPrefix(p.Setting, "privilege SELECT on "); want != p.Setting && p.Table != want {
			t.Errorf("problem %v: Table = %q, want %q (check leaves that table's flows unchecked)", p, p.Table, want)
		} else if want == p.Setting && p.Table != "" {
			t.Errorf("problem %v names table %q", p, p.Table)
		}
	}
	if len(problems) != 3 {
		t.Errorf("problems = %v, want exactly the three above", problems)
	}
}

func TestCheckBinlogFormatChanges(t *testing.T) {
	db := testenv.Upstream(t)
	ctx := checkTestContext(t)

	t.Run("session format does not matter", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Put the pooled connection back as it was, whatever happens.
		defer conn.ExecContext(context.Background(), "SET SESSION binlog_format = 'ROW'")
		if _, err := conn.ExecContext(ctx, "SET SESSION binlog_format = 'STATEMENT'"); err != nil {
			t.Fatal(err)
		}
		problems, err := Check(ctx, db, "mariadb", checkTestReplicaID, nil)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if len(problems) != 0 {
			t.Errorf("one session's binlog_format is reported: %v", problems)
		}
	})

	t.Run("global format", func(t *testing.T) {
		// Other packages' tests share this upstream: restore ROW even when the
		// test fails, and keep the STATEMENT window as short as possible.
		restore := func() {
			if _, err := db.ExecContext(context.Background(), "SET GLOBAL binlog_format = 'ROW'"); err != nil {
				t.Errorf("RESTORE FAILED: SET GLOBAL binlog_format = 'ROW' on the upstream: %v", err)
			}
		}
		t.Cleanup(restore)
		if _, err := db.ExecContext(ctx, "SET GLOBAL binlog_format = 'STATEMENT'"); err != nil {
			t.Fatal(err)
		}
		problems, err := Check(ctx, db, "mariadb", checkTestReplicaID, nil)
		restore()
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		checkExpectProblem(t, problems, "binlog_format", "STATEMENT", "SET GLOBAL binlog_format = 'ROW'")
		checkExpectProblem(t, problems, "binlog_format", "STATEMENT", "binlog_format = ROW under [mysqld] in my.cnf")
		checkExpectProblem(t, problems, "binlog_format", "STATEMENT", "sessions already connected keep their old format")
		if len(problems) != 1 {
			t.Errorf("problems = %v, want only binlog_format", problems)
		}
	})
}

func TestCheckPurged(t *testing.T) {
	db := testenv.Upstream(t)
	ctx := checkTestContext(t)
	files, err := checkBinaryLogs(ctx, db)
	if err != nil || len(files) == 0 {
		t.Fatalf("SHOW BINARY LOGS: %v, %v", files, err)
	}
	var current string
	var pos uint64
	var doDB, ignoreDB sql.NullString // MariaDB's SHOW MASTER STATUS has four columns
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&current, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	base, oldestSeq := checkSplitBinlogName(files[0])
	_, newestSeq := checkSplitBinlogName(files[len(files)-1])

	tests := []struct {
		name string
		file string
		want []string // substrings; none means nil error
	}{
		{"current file", current, nil},
		{"oldest file", files[0], nil},
		{"purged", fmt.Sprintf("%s.%06d", base, oldestSeq-1), []string{"was purged from the upstream", "fresh snapshot", "reset their checkpoints", "never skips"}},
		{"newer than the newest", fmt.Sprintf("%s.%06d", base, newestSeq+100), []string{"is newer than the upstream's newest", files[len(files)-1], "fresh snapshot"}},
		{"another base name", "other-host-bin.000001", []string{"belongs to another server", "fresh snapshot"}},
		{"no file", "", []string{"no binlog file given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPurged(ctx, db, tt.file)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckPurged(%q) = %v, want nil", tt.file, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckPurged(%q) = nil, want an error", tt.file)
			}
			if tt.file != "" {
				if !errors.Is(err, ErrPurged) {
					t.Errorf("error %v does not wrap ErrPurged", err)
				}
				if !strings.Contains(err.Error(), tt.file) {
					t.Errorf("error %q does not name %s", err, tt.file)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestServerIdentity(t *testing.T) {
	db := testenv.Upstream(t)
	id, uuid, err := ServerIdentity(checkTestContext(t), db)
	if err != nil {
		t.Fatal(err)
	}
	if id != 1 || uuid != "" {
		t.Errorf("ServerIdentity = %d, %q; want testenv's upstream 1 and no UUID (MariaDB)", id, uuid)
	}
}

// checkExpectProblem fails unless problems hold a fatal one for setting whose
// Found contains found and whose Fix contains fix.
func checkExpectProblem(t *testing.T, problems []Problem, setting, found, fix string) {
	t.Helper()
	for _, p := range problems {
		if p.Setting == setting && p.Fatal && strings.Contains(p.Found, found) && strings.Contains(p.Fix, fix) {
			return
		}
	}
	t.Errorf("no fatal problem for %q with found ~ %q and fix ~ %q in:\n%v", setting, found, fix, problems)
}
