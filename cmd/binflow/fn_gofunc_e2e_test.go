package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

var (
	exampleOnce sync.Once
	examplePath string
	exampleErr  error
)

// exampleBinary builds examples/custom-function once per test run.
func exampleBinary(t *testing.T) string {
	t.Helper()
	exampleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "binflow-example")
		if err != nil {
			exampleErr = err
			return
		}
		examplePath = filepath.Join(dir, "loyalty")
		cmd := exec.Command("go", "build", "-o", examplePath, "./examples/custom-function")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			exampleErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if exampleErr != nil {
		t.Fatal(exampleErr)
	}
	return examplePath
}

// startExample runs the example binary with config and waits for its one
// flow's checkpoint.
func (e *env) startExample(config string) *process {
	e.t.Helper()
	cmd := exec.Command(exampleBinary(e.t), "run", "-c", config)
	cmd.Env = os.Environ()
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	e.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			e.t.Logf("example output:\n%s", tail(p.out.String(), 4000))
		}
	})
	e.waitFor(20*time.Second, "the example to start", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			e.t.Fatalf("the example exited at start: %v\n%s", err, p.out.String())
		default:
		}
		var n int
		_ = e.down.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.binflow_checkpoints WHERE flow = 'loyalty'", e.derived)).Scan(&n)
		return n == 1
	})
	return p
}

// A binary of one's own (examples/custom-function) runs a registered Go
// function with params and per-flow state: after a kill -9 in the middle of
// a stream of new orders, each customer's count of big orders equals the
// orders inserted at or above the threshold: the state was neither lost nor
// applied twice.
func TestExampleGoFunctionStateSurvivesKill9(t *testing.T) {
	e := newEnv(t, envOptions{})
	upHost, upPort := testenv.UpstreamAddr()
	downHost, downPort := testenv.DownstreamAddr()
	cfg := fmt.Sprintf(`
[upstream]
host = %q
port = %d
user = %q
password = %q
server_id = %d
start = "current"

[downstream]
host = %q
port = %d
user = %q
password = %q
database = %q
migrations = %q

[batch]
max_rows = 50
max_delay = "20ms"

[[flows]]
name = "loyalty"
tables = ["%s.orders"]
  [[flows.functions]]
  kind = "go"
  name = "loyalty"
  params = { threshold = "300", gold_after = "4" }
  [[flows.functions]]
  kind = "sink"
  table = "loyalty"
  key = ["customer_id"]
`, upHost, upPort, testenv.User, testenv.Password, 3000+e.rng.Intn(1000), downHost, downPort, testenv.User, testenv.Password,
		e.derived, filepath.Join(repoRoot(t), "migrations"), e.shop)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	writeFile(t, path, cfg)
	// The example's migrate applies binflow's migrations, then its own
	// (migrations/ next to the config).
	if err := os.MkdirAll(filepath.Join(dir, "migrations", "mysql"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "migrations", "mysql", "0100_loyalty.sql"),
		readFile(t, filepath.Join(repoRoot(t), "examples", "custom-function", "migrations", "mysql", "0100_loyalty.sql")))
	if out, err := exec.Command(exampleBinary(t), "migrate", "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("example migrate: %v\n%s", err, out)
	}

	want := map[int64]int64{}
	insert := func(n int) {
		for i := 0; i < n; i++ {
			tx, err := e.up.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 5; j++ {
				customer := int64(e.rng.Intn(8) + 1)
				amount := e.rng.Intn(600)
				if _, err := tx.Exec("INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (?, ?, 'new', NOW())", customer, amount); err != nil {
					t.Fatal(err)
				}
				if amount >= 300 {
					want[customer]++
				}
			}
			// Updates and deletes are dropped by the function.
			if _, err := tx.Exec("UPDATE `"+e.shop+"`.orders SET amount = amount + 500 WHERE id % 7 = ?", e.rng.Intn(7)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := e.startExample(path)
	insert(80)
	time.Sleep(100 * time.Millisecond)
	e.kill9(p)
	insert(80)
	p = e.startExample(path)
	insert(40)
	file, pos := e.upstreamPos()
	e.waitFor(60*time.Second, "the example to catch up", func() bool {
		var f string
		var at uint64
		err := e.down.QueryRow("SELECT binlog_file, binlog_pos FROM `"+e.derived+"`.binflow_checkpoints WHERE flow = 'loyalty'").Scan(&f, &at)
		return err == nil && (f > file || f == file && at >= uint64(pos))
	})
	var wantRows []string
	for c, n := range want {
		level := "silver"
		if n >= 4 {
			level = "gold"
		}
		wantRows = append(wantRows, fmt.Sprintf("%d|%d|%s", c, n, level))
	}
	got := e.snapshot(e.down, "SELECT customer_id, big_orders, level FROM `"+e.derived+"`.loyalty")
	if diff := diffRows(got, wantRows); diff != "" {
		t.Errorf("loyalty differs from the big orders inserted:\n%s", diff)
	}
	var states int
	if err := e.down.QueryRow("SELECT COUNT(*) FROM `" + e.derived + "`.binflow_state WHERE flow = 'loyalty' AND `function` = '0:loyalty'").Scan(&states); err != nil || states != len(want) {
		t.Errorf("binflow_state holds %d keys (%v), want one per customer (%d)", states, err, len(want))
	}
	e.stop(p)
}
