package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// hostileNames are the identifiers of TestHostileIdentifiersCannotInjectSQL:
// quotes of every kind, spaces, unicode and SQL fragments. Table names
// carry no backtick (config refuses them: binflow quotes with backticks),
// nor does amt, whose name is part of a state table's.
var hostileNames = struct {
	src, pk, val, grp, amt   string // the source table and its columns
	lk, key, name            string // the table a lookup reads, its key and a column
	copySink, aggSink, lkOut string // the derived tables
	count, lo, hi            string // the aggregate's columns
}{
	src:      `o'rd "ers" ü; DROP TABLE victim`,
	pk:       "i`d \"pk\" 'ü'; DROP TABLE victim; --",
	val:      `c; DROP TABLE victim; --`,
	grp:      "g`r\"o'up ü",
	amt:      `a'm"t; --`,
	lk:       `l'k "p" ü; DROP TABLE victim`,
	key:      "k`e\"y'; DROP TABLE victim; --",
	name:     "n`a\"m'e ü",
	copySink: `d'e "r" ived; DROP TABLE victim; --`,
	aggSink:  `a"g'g ü; --`,
	lkOut:    `l'k "o" ut ü`,
	count:    "n`'; DROP TABLE victim; --",
	lo:       `lo "min"`,
	hi:       `hi 'max'`,
}

// quoteIn quotes an identifier in a store's SQL (MySQL's backticks on the
// upstream).
func quoteIn(store, name string) string {
	if store == storeMySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// tablesIn lists the tables of the test's derived database (or file).
func (e *env) tablesIn() []string {
	switch e.store {
	case storePostgres:
		return e.snapshot(e.down, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
	case storeSQLite:
		return e.snapshot(e.down, "SELECT name FROM sqlite_master WHERE type = 'table'")
	}
	return e.snapshot(e.down, "SELECT table_name FROM information_schema.TABLES WHERE table_schema = '"+e.derived+"'")
}

// Names from config reach SQL only as quoted identifiers, in every store: a
// source table whose primary key, columns and name carry quotes, spaces,
// unicode and SQL fragments is snapshotted (its existing rows paged by that
// key, two at a time) and streamed through a copy, an aggregate grouping by
// a hostile column with min and max (and their state table), and a lookup
// from the upstream on a hostile key; every derived table equals its SQL
// recomputation, binflow verify agrees, and the tables the fragments name
// survive, with no table added or dropped anywhere.
func TestHostileIdentifiersCannotInjectSQL(t *testing.T) {
	n := hostileNames
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store})
		up := func(name string) string { return quoteIn(storeMySQL, name) }
		dn := func(name string) string { return quoteIn(store, name) }
		src, lk := "`"+e.shop+"`."+up(n.src), "`"+e.shop+"`."+up(n.lk)
		e.exec(e.up, fmt.Sprintf("CREATE TABLE %s (%s BIGINT PRIMARY KEY, %s VARCHAR(50) NULL, %s VARCHAR(40) NOT NULL, %s DECIMAL(10,2) NOT NULL)",
			src, up(n.pk), up(n.val), up(n.grp), up(n.amt)))
		e.exec(e.up, fmt.Sprintf("CREATE TABLE %s (%s VARCHAR(40) PRIMARY KEY, %s VARCHAR(50) NULL)", lk, up(n.key), up(n.name)))
		e.exec(e.up, fmt.Sprintf("CREATE TABLE `%s`.victim (id INT)", e.shop))
		types := map[string][4]string{ // bigint, text, decimal, " STRICT"
			storeMySQL:    {"BIGINT", "VARCHAR(50)", "DECIMAL(10,2)", ""},
			storePostgres: {"BIGINT", "VARCHAR(50)", "NUMERIC(10,2)", ""},
			storeSQLite:   {"INTEGER", "TEXT", "TEXT", " STRICT"},
		}[store]
		integer, text, decimal, strict := types[0], types[1], types[2], types[3]
		for _, ddl := range []string{
			fmt.Sprintf("CREATE TABLE %s (%s %s PRIMARY KEY, %s %s NULL, %s %s NOT NULL, %s %s NOT NULL)%s",
				e.prefix+dn(n.copySink), dn(n.pk), integer, dn(n.val), text, dn(n.grp), text, dn(n.amt), decimal, strict),
			fmt.Sprintf("CREATE TABLE %s (%s %s PRIMARY KEY, %s %s NOT NULL, %s %s NULL, %s %s NULL)%s",
				e.prefix+dn(n.aggSink), dn(n.grp), text, dn(n.count), integer, dn(n.lo), decimal, dn(n.hi), decimal, strict),
			fmt.Sprintf("CREATE TABLE %s (%s %s NOT NULL, %s %s NOT NULL, n %s NOT NULL, PRIMARY KEY (%s, %s))%s",
				e.prefix+dn(n.aggSink+"__"+n.amt), dn(n.grp), text, dn(n.amt), decimal, integer, dn(n.grp), dn(n.amt), strict),
			fmt.Sprintf("CREATE TABLE %s (%s %s PRIMARY KEY, %s %s NULL)%s",
				e.prefix+dn(n.lkOut), dn(n.pk), integer, dn(n.name), text, strict),
			"CREATE TABLE " + e.prefix + "victim (id INT)",
		} {
			e.exec(e.down, ddl)
		}
		flows := fmt.Sprintf(`
[snapshot]
chunk_rows = 2

[[flows]]
name = "hostile_copy"
tables = ["SHOP.%[1]s"]
  [[flows.functions]]
  kind = "project"
  columns = [%[2]s, %[3]s, %[4]s, %[5]s]
  [[flows.functions]]
  kind = "sink"
  table = %[6]s
  key = [%[2]s]

[[flows]]
name = "hostile_aggregate"
tables = ["SHOP.%[1]s"]
  [[flows.functions]]
  kind = "aggregate"
  group_by = [%[4]s]
  aggregates = [
    { column = %[7]s, func = "count" },
    { column = %[8]s, func = "min", of = %[5]s },
    { column = %[9]s, func = "max", of = %[5]s },
  ]
  [[flows.functions]]
  kind = "sink"
  table = %[10]s

[[flows]]
name = "hostile_lookup"
tables = ["SHOP.%[1]s"]
  [[flows.functions]]
  kind = "lookup"
  table = "SHOP.%[11]s"
  on = { %[4]s = %[12]s }
  columns = [%[13]s]
  [[flows.functions]]
  kind = "project"
  columns = [%[2]s, %[13]s]
  [[flows.functions]]
  kind = "sink"
  table = %[14]s
  key = [%[2]s]
`, strings.Trim(tomlString(n.src), `"`), tomlString(n.pk), tomlString(n.val), tomlString(n.grp), tomlString(n.amt),
			tomlString(n.copySink), tomlString(n.count), tomlString(n.lo), tomlString(n.hi), tomlString(n.aggSink),
			strings.Trim(tomlString(n.lk), `"`), tomlString(n.key), tomlString(n.name), tomlString(n.lkOut))
		writeFile(t, e.configPath, readFile(t, e.configPath)+replaceShop(flows, e.shop))

		groups := []string{"'; DROP TABLE victim; --", `"x" ü`, "a`b"}
		for i, g := range groups {
			e.exec(e.up, fmt.Sprintf("INSERT INTO %s VALUES (?, ?)", lk), g, fmt.Sprintf("name %d '); DROP TABLE victim; --", i))
		}
		insert := fmt.Sprintf("INSERT INTO %s VALUES (?, ?, ?, ?)", src)
		for i := 1; i <= 7; i++ { // paged two at a time by the hostile key
			e.exec(e.up, insert, i, fmt.Sprintf("v%d'); DROP TABLE victim; --", i), groups[i%len(groups)], fmt.Sprintf("%d.%02d", i*3, i))
		}
		upTables := e.snapshot(e.up, "SELECT table_name FROM information_schema.TABLES WHERE table_schema = '"+e.shop+"'")
		downTables := e.tablesIn()

		p := e.start()
		e.waitCheckpoints(flowCount + 3)
		e.exec(e.up, insert, 8, `ü "x"`, groups[0], "1.25")
		e.exec(e.up, fmt.Sprintf("UPDATE %s SET %s = ?, %s = 0.50 WHERE %s = 2", src, up(n.grp), up(n.amt), up(n.pk)), groups[1]) // moves between groups
		e.exec(e.up, fmt.Sprintf("UPDATE %s SET %s = 9 WHERE %s = 3", src, up(n.pk), up(n.pk)))                                   // a new key
		e.exec(e.up, fmt.Sprintf("DELETE FROM %s WHERE %s IN (1, 4)", src, up(n.pk)))
		e.caughtUp(30 * time.Second)
		e.stop(p)

		for _, c := range []struct{ what, derived, oracle string }{
			{"copy",
				fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s", dn(n.pk), dn(n.val), dn(n.grp), dn(n.amt), e.prefix+dn(n.copySink)),
				fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s", up(n.pk), up(n.val), up(n.grp), up(n.amt), src)},
			{"aggregate",
				fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s", dn(n.grp), dn(n.count), dn(n.lo), dn(n.hi), e.prefix+dn(n.aggSink)),
				fmt.Sprintf("SELECT %[1]s, COUNT(*), MIN(%[2]s), MAX(%[2]s) FROM %[3]s GROUP BY %[1]s", up(n.grp), up(n.amt), src)},
			{"aggregate state",
				fmt.Sprintf("SELECT %s, %s, n FROM %s", dn(n.grp), dn(n.amt), e.prefix+dn(n.aggSink+"__"+n.amt)),
				fmt.Sprintf("SELECT %[1]s, %[2]s, COUNT(*) FROM %[3]s GROUP BY %[1]s, %[2]s", up(n.grp), up(n.amt), src)},
			{"lookup",
				fmt.Sprintf("SELECT %s, %s FROM %s", dn(n.pk), dn(n.name), e.prefix+dn(n.lkOut)),
				fmt.Sprintf("SELECT s.%s, l.%s FROM %s s LEFT JOIN %s l ON l.%s = s.%s", up(n.pk), up(n.name), src, lk, up(n.key), up(n.grp))},
		} {
			got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
			if diff := diffRows(got, want); diff != "" || len(want) == 0 {
				t.Errorf("hostile %s in %s differs from the upstream's %d rows:\n%s", c.what, store, len(want), diff)
			}
		}
		e.verify()
		for _, f := range []string{"hostile_copy", "hostile_aggregate", "hostile_lookup"} {
			if out, code := e.runCommand("verify", f); code != 0 || !strings.Contains(out, "match the recomputation") {
				t.Errorf("binflow verify %s exited %d:\n%s", f, code, tail(out, 3000))
			}
		}
		// Nothing dropped, nothing added: the victims are still there.
		if got := e.snapshot(e.up, "SELECT table_name FROM information_schema.TABLES WHERE table_schema = '"+e.shop+"'"); diffRows(got, upTables) != "" {
			t.Errorf("upstream tables changed:\n%s", diffRows(got, upTables))
		}
		if got := e.tablesIn(); diffRows(got, downTables) != "" {
			t.Errorf("%s tables changed:\n%s", store, diffRows(got, downTables))
		}
		if !slices.Contains(downTables, "victim") || !slices.Contains(upTables, "victim") {
			t.Errorf("no table victim to check: upstream %v, %s %v", upTables, store, downTables)
		}
	})
}

// dsnLike matches what a DSN or connection string would leave in output:
// user:password@host, go-sql-driver's @tcp(, a postgres:// URL, password=.
var dsnLike = regexp.MustCompile(`(?i)[\w.-]+:[^\s@/'"]+@|@tcp\(|@unix\(|postgres(ql)?://|\bpassword=\S`)

// Passwords never appear in output, whatever the command, the store
// (MySQL, PostgreSQL) and whatever fails: a wrong password, an unreachable
// server, a missing derived table, a bad config; check, migrate, run with
// debug logs (and /status, /metrics, /readyz, the page and a live binflow
// status), status offline, verify, rebuild and reset. Nor does anything
// that looks like a DSN.
func TestPasswordsNeverAppearInOutput(t *testing.T) {
	for _, store := range []string{storeMySQL, storePostgres} {
		t.Run(store, func(t *testing.T) { passwordsNeverAppear(t, store) })
	}
}

func passwordsNeverAppear(t *testing.T, store string) {
	const secret = "Sekr1t-Marker-9f3a"
	e := newEnv(t, envOptions{store: store})
	for _, host := range []string{"127.0.0.1", "localhost"} {
		e.exec(e.up, fmt.Sprintf("CREATE USER IF NOT EXISTS 'binflow_pw'@'%s' IDENTIFIED BY '%s'", host, secret))
		e.exec(e.up, fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO 'binflow_pw'@'%s'", host))
		if store == storeMySQL {
			e.exec(e.down, fmt.Sprintf("CREATE USER IF NOT EXISTS 'binflow_pw'@'%s' IDENTIFIED BY '%s'", host, secret))
			e.exec(e.down, fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO 'binflow_pw'@'%s'", host))
		}
	}
	if store == storePostgres {
		// A member of the test role, which owns the derived database.
		testenv.PostgresSuperuser(t, fmt.Sprintf("DROP ROLE IF EXISTS binflow_pw; CREATE ROLE binflow_pw LOGIN PASSWORD '%s' IN ROLE %s", secret, testenv.User))
		t.Cleanup(func() { testenv.PostgresSuperuser(t, "DROP ROLE IF EXISTS binflow_pw") })
	}
	t.Cleanup(func() {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			_, _ = e.up.Exec(fmt.Sprintf("DROP USER IF EXISTS 'binflow_pw'@'%s'", host))
			if store == storeMySQL {
				_, _ = e.down.Exec(fmt.Sprintf("DROP USER IF EXISTS 'binflow_pw'@'%s'", host))
			}
		}
	})
	base := strings.ReplaceAll(readFile(t, e.configPath), `user = "`+testenv.User+`"`, `user = "binflow_pw"`)
	run := func(name, config string, env []string, args ...string) string {
		path := e.configPath + "." + strings.ReplaceAll(name, " ", "-")
		writeFile(t, path, config)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary(t), append(args, "-c", path)...)
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Errorf("%s: binflow %s did not end within 30s", name, strings.Join(args, " "))
		}
		return string(out)
	}
	// runBriefly runs binflow run for a while (it waits for a downstream
	// that is down), then stops it.
	runBriefly := func(name, config string, env []string) string {
		path := e.configPath + "." + strings.ReplaceAll(name, " ", "-")
		writeFile(t, path, config)
		cmd := exec.Command(binary(t), "run", "-c", path)
		cmd.Env = append(os.Environ(), env...)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return out.String()
	}
	good := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret, "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret}
	wrongUp := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret + "-wrong", "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret}
	wrongDown := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret, "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret + "-wrong"}
	inline := strings.ReplaceAll(strings.ReplaceAll(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = "`+secret+`"`),
		`password_env = "BINFLOW_TEST_DOWNSTREAM_PASSWORD"`, `password = "`+secret+`-wrong"`)
	closed := fmt.Sprintf("port = %d", freePort(t))
	_, upPort := testenv.UpstreamAddr()
	downPort := map[string]int{}
	_, downPort[storeMySQL] = testenv.DownstreamAddr()
	_, downPort[storePostgres] = testenv.PostgresAddr()
	upDown := strings.Replace(base, fmt.Sprintf("port = %d", upPort), closed, 1)
	// The downstream's port line comes after the upstream's.
	downDown := base[:strings.Index(base, "[downstream]")] +
		strings.Replace(base[strings.Index(base, "[downstream]"):], fmt.Sprintf("port = %d", downPort[store]), closed, 1)
	file, pos := e.upstreamPos()
	to := fmt.Sprintf("%s:%d", file, pos)

	outputs := map[string]string{
		"check":                           run("check", base, good, "check"),
		"migrate":                         run("migrate", base, good, "migrate"),
		"run with debug logs":             runAndStop(t, e, base, good),
		"status offline":                  run("status", base, good, "status"),
		"status offline --json":           run("status json", base, good, "status", "--json"),
		"verify":                          run("verify", base, good, "verify", "customer_totals"),
		"rebuild":                         run("rebuild", base, good, "rebuild", "customer_totals"),
		"reset without --yes":             run("reset refused", base, good, "reset", "orders_copy", "--to", to),
		"reset":                           run("reset", base, good, "reset", "orders_copy", "--to", to, "--yes"),
		"wrong upstream: run":             run("wrong up run", base, wrongUp, "run"),
		"wrong upstream: check":           run("wrong up check", base, wrongUp, "check"),
		"wrong upstream: verify":          run("wrong up verify", base, wrongUp, "verify", "orders_copy"),
		"wrong upstream: status":          run("wrong up status", base, wrongUp, "status", "--json"),
		"wrong downstream: migrate":       run("wrong down migrate", base, wrongDown, "migrate"),
		"wrong downstream: status":        run("wrong down status", base, wrongDown, "status"),
		"wrong downstream: rebuild":       run("wrong down rebuild", base, wrongDown, "rebuild", "orders_copy"),
		"wrong downstream: reset":         run("wrong down reset", base, wrongDown, "reset", "orders_copy", "--to", to, "--yes"),
		"inline wrong":                    run("inline", inline, nil, "migrate"),
		"upstream unreachable: run":       run("up down run", upDown, good, "run"),
		"upstream unreachable: check":     run("up down check", upDown, good, "check"),
		"upstream unreachable: status":    run("up down status", upDown, good, "status", "--json"),
		"upstream unreachable: verify":    run("up down verify", upDown, good, "verify", "orders_copy"),
		"downstream unreachable: run":     runBriefly("down down run", downDown, good),
		"downstream unreachable: migrate": run("down down migrate", downDown, good, "migrate"),
		"downstream unreachable: status":  run("down down status", downDown, good, "status"),
		"missing sink table":              run("missing", strings.Replace(base, `table = "orders_copy"`, `table = "no_such_table"`, 1), good, "run"),
		"password syntax":                 run("syntax", strings.Replace(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = `+secret, 1), good, "run"),
		"password wrong type":             run("type", strings.Replace(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = ["`+secret+`"]`, 1), good, "run"),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s: output contains the password:\n%s", name, out)
		}
		if m := dsnLike.FindString(out); m != "" {
			t.Errorf("%s: output contains what looks like a DSN (%q):\n%s", name, m, out)
		}
		if out == "" {
			t.Errorf("%s: no output at all (the scenario did not run)", name)
		}
	}
	// The failures failed for the reason given, so their output was looked at.
	for name, want := range map[string]string{
		"wrong upstream: run":             "Access denied for user 'binflow_pw'",
		"wrong downstream: migrate":       map[string]string{storeMySQL: "Access denied for user", storePostgres: "password authentication failed"}[store],
		"upstream unreachable: check":     "connection refused",
		"upstream unreachable: status":    "connection refused",
		"downstream unreachable: run":     "downstream unreachable; retrying",
		"downstream unreachable: migrate": "connection refused",
		"reset":                           to,
		"verify":                          "match the recomputation",
	} {
		if !strings.Contains(outputs[name], want) {
			t.Errorf("%s: output does not say %q:\n%s", name, want, tail(outputs[name], 3000))
		}
	}
}

// runAndStop runs binflow for a moment with writes going through, asks it
// for its status (binflow status, /status, /metrics, /readyz, the page),
// then stops it.
func runAndStop(t *testing.T, e *env, config string, env []string) string {
	path := e.configPath + ".debug"
	// Serve /status and /metrics, and read them too: they must not show
	// the password or a DSN either.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	writeFile(t, path, config+"\n[http]\nlisten = \""+addr+"\"\n")
	cmd := e.command("run")
	cmd.Args[len(cmd.Args)-1] = path
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	e.load(5, 5, 5)
	time.Sleep(500 * time.Millisecond)
	served := 0
	for _, path := range []string{"/status", "/metrics", "/readyz", "/"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "\n%s:\n%s", path, body)
		served++
	}
	if served == 0 {
		t.Errorf("binflow served none of /status, /metrics, /readyz, / on %s", addr)
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}} {
		status := e.command(args...)
		status.Args[len(status.Args)-1] = path
		status.Env = cmd.Env
		text, err := status.CombinedOutput()
		if err != nil || !strings.Contains(string(text), "live") {
			t.Errorf("binflow %s while binflow runs: %v\n%s", strings.Join(args, " "), err, text)
		}
		fmt.Fprintf(out, "\nbinflow %s:\n%s", strings.Join(args, " "), text)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return out.String()
}
