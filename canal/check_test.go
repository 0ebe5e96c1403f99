package canal

import (
	"reflect"
	"strings"
	"testing"
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
	}{
		{"all good", good, "", "", ""},
		{"binlog off", with("log_bin", "OFF"), "log_bin", "OFF", "restart"},
		{"statement format", with("binlog_format", "STATEMENT"), "binlog_format", "STATEMENT", "SET GLOBAL binlog_format = 'ROW'"},
		{"mixed format", with("binlog_format", "MIXED"), "binlog_format", "MIXED", "sessions already connected keep their old format"},
		{"minimal image", with("binlog_row_image", "MINIMAL"), "binlog_row_image", "MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'"},
		{"minimal metadata", with("binlog_row_metadata", "MINIMAL"), "binlog_row_metadata", "MINIMAL", "SET GLOBAL binlog_row_metadata = 'FULL'"},
		{"server too old", with("binlog_row_metadata", ""), "binlog_row_metadata",
			"no such variable: server 10.11.19-MariaDB is too old", "upgrade to MariaDB 10.5 or later"},
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
			if p.Setting != tt.setting || p.Found != tt.found || !strings.Contains(p.Fix, tt.fix) || !p.Fatal {
				t.Errorf("problem = %+v; want setting %q, found %q, fatal, fix containing %q", p, tt.setting, tt.found, tt.fix)
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
			"error: binlog_format: found STATEMENT; fix: SET GLOBAL binlog_format = 'ROW'"},
		{Problem{Setting: "x", Found: "y", Fix: "z"}, "warning: x: found y; fix: z"},
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
