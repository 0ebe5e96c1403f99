package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// Names from config reach SQL only as quoted identifiers: a table and a
// column whose names carry quotes, spaces, unicode and SQL fragments are
// read and written as data, and the table those fragments name survives.
func TestHostileIdentifiersCannotInjectSQL(t *testing.T) {
	const (
		srcTable = `o'rd "ers" ü; DROP TABLE victim`
		column   = `c; DROP TABLE victim; --`
		dstTable = `d'e "r" ived; DROP TABLE victim; --`
	)
	toml := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
	e := newEnv(t, envOptions{extraFlow: ""})
	e.exec(e.up, fmt.Sprintf("CREATE TABLE `%s`.`%s` (id BIGINT PRIMARY KEY, `%s` VARCHAR(50))", e.shop, srcTable, column))
	e.exec(e.down, fmt.Sprintf("CREATE TABLE `%s`.`%s` (id BIGINT PRIMARY KEY, `%s` VARCHAR(50))", e.derived, dstTable, column))
	e.exec(e.down, fmt.Sprintf("CREATE TABLE `%s`.victim (id INT)", e.derived))
	e.exec(e.up, fmt.Sprintf("CREATE TABLE `%s`.victim (id INT)", e.shop))
	writeFile(t, e.configPath, readFile(t, e.configPath)+fmt.Sprintf(`
[[flows]]
name = "hostile"
tables = ["%s.%s"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "%s"]
  [[flows.functions]]
  kind = "sink"
  table = "%s"
  key = ["id"]
`, e.shop, toml(srcTable), toml(column), toml(dstTable)))

	p := e.start()
	e.exec(e.up, fmt.Sprintf("INSERT INTO `%s`.`%s` VALUES (1, ?), (2, ?)", e.shop, srcTable), "'); DROP TABLE victim; --", "ü \"x\"")
	e.exec(e.up, fmt.Sprintf("UPDATE `%s`.`%s` SET id = 3 WHERE id = 2", e.shop, srcTable))
	e.exec(e.up, fmt.Sprintf("DELETE FROM `%s`.`%s` WHERE id = 1", e.shop, srcTable))
	e.caughtUp(30 * time.Second)
	e.stop(p)

	got := e.snapshot(e.down, fmt.Sprintf("SELECT id, `%s` FROM `%s`.`%s`", column, e.derived, dstTable))
	want := e.snapshot(e.up, fmt.Sprintf("SELECT id, `%s` FROM `%s`.`%s`", column, e.shop, srcTable))
	if diff := diffRows(got, want); diff != "" {
		t.Errorf("hostile-named derived table differs:\n%s", diff)
	}
	for _, db := range []struct {
		name string
		exec func(string) error
	}{{e.derived, func(q string) error { _, err := e.down.Exec(q); return err }}, {e.shop, func(q string) error { _, err := e.up.Exec(q); return err }}} {
		if err := db.exec(fmt.Sprintf("SELECT * FROM `%s`.victim", db.name)); err != nil {
			t.Errorf("table victim in %s was dropped: %v", db.name, err)
		}
	}
}

// Passwords never appear in output, whatever fails: a wrong password, a
// missing derived table, a normal run with debug logs, check and migrate.
func TestPasswordsNeverAppearInOutput(t *testing.T) {
	const secret = "Sekr1t-Marker-9f3a"
	e := newEnv(t, envOptions{})
	for _, db := range []struct {
		name string
		exec func(string, ...any)
	}{{"upstream", func(q string, a ...any) { e.exec(e.up, q, a...) }}, {"downstream", func(q string, a ...any) { e.exec(e.down, q, a...) }}} {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			db.exec(fmt.Sprintf("CREATE USER IF NOT EXISTS 'binflow_pw'@'%s' IDENTIFIED BY '%s'", host, secret))
			db.exec(fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO 'binflow_pw'@'%s'", host))
		}
	}
	t.Cleanup(func() {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			_, _ = e.up.Exec(fmt.Sprintf("DROP USER IF EXISTS 'binflow_pw'@'%s'", host))
			_, _ = e.down.Exec(fmt.Sprintf("DROP USER IF EXISTS 'binflow_pw'@'%s'", host))
		}
	})
	base := strings.ReplaceAll(readFile(t, e.configPath), `user = "`+testenv.User+`"`, `user = "binflow_pw"`)
	run := func(name, config string, env []string, args ...string) string {
		path := e.configPath + "." + name
		writeFile(t, path, config)
		cmd := e.command(args...)
		cmd.Args[len(cmd.Args)-1] = path
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	good := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret, "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret}
	wrongUp := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret + "-wrong", "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret}
	wrongDown := []string{"BINFLOW_TEST_UPSTREAM_PASSWORD=" + secret, "BINFLOW_TEST_DOWNSTREAM_PASSWORD=" + secret + "-wrong"}
	inline := strings.ReplaceAll(strings.ReplaceAll(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = "`+secret+`"`),
		`password_env = "BINFLOW_TEST_DOWNSTREAM_PASSWORD"`, `password = "`+secret+`-wrong"`)
	outputs := map[string]string{
		"check":               run("check", base, good, "check"),
		"migrate":             run("migrate", base, good, "migrate"),
		"wrong upstream":      run("wrong-up", base, wrongUp, "run"),
		"wrong downstream":    run("wrong-down", base, wrongDown, "migrate"),
		"inline wrong":        run("inline", inline, nil, "migrate"),
		"missing sink table":  run("missing", strings.Replace(base, `table = "orders_copy"`, `table = "no_such_table"`, 1), good, "run"),
		"password syntax":     run("syntax", strings.Replace(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = `+secret, 1), good, "run"),
		"password wrong type": run("type", strings.Replace(base, `password_env = "BINFLOW_TEST_UPSTREAM_PASSWORD"`, `password = ["`+secret+`"]`, 1), good, "run"),
		"run with debug logs": runAndStop(t, e, base, good),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s: output contains the password:\n%s", name, out)
		}
		if out == "" {
			t.Errorf("%s: no output at all (the scenario did not run)", name)
		}
	}
}

// runAndStop runs binflow for a moment with writes going through, then stops it.
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
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return out.String()
}
