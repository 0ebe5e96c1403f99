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
	return e.launch("the example", e.exampleCommand("run", config), func() bool {
		cps, _ := e.checkpoints()
		_, ok := cps["loyalty"]
		return ok
	})
}

func (e *env) exampleCommand(sub, config string) *exec.Cmd {
	cmd := exec.Command(exampleBinary(e.t), sub, "-c", config)
	cmd.Env = append(os.Environ(), "BINFLOW_TEST_UPSTREAM_PASSWORD="+testenv.Password, "BINFLOW_TEST_DOWNSTREAM_PASSWORD="+testenv.Password)
	return cmd
}

// A binary of one's own (examples/custom-function) runs a registered Go
// function with params and per-flow state, into each store: after a kill -9
// in the middle of a stream of new orders, each customer's count of big
// orders, in the derived table and in binflow_state, equals the orders
// inserted at or above the threshold: the state was neither lost nor
// applied twice.
func TestExampleGoFunctionStateSurvivesKill9(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store})
		path := testConfig{
			upstream:   append(upstreamKeys(testenv.User, "BINFLOW_TEST_UPSTREAM_PASSWORD", 3000+e.rng.Intn(1000)), `start = "current"`),
			downstream: e.downstreamKeys, // the env's store, migrated
			batch:      section{}.with("max_rows", 50).with("max_delay", "20ms"),
			flows: []string{`
[[flows]]
name = "loyalty"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "go"
  name = "loyalty"
  params = { threshold = "300", gold_after = "4" }
  [[flows.functions]]
  kind = "sink"
  table = "loyalty"
  key = ["customer_id"]
`},
		}.write(t, e.shop)
		// The example's migrate applies binflow's migrations, then its own
		// (migrations/<dialect>/ next to the config).
		own := filepath.Join(filepath.Dir(path), "migrations", store)
		if err := os.MkdirAll(own, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(own, "0100_loyalty.sql"),
			readFile(t, filepath.Join(repoRoot(t), "examples", "custom-function", "migrations", store, "0100_loyalty.sql")))
		if out, err := e.exampleCommand("migrate", path).CombinedOutput(); err != nil {
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
		e.caughtUpFlows(60*time.Second, "loyalty")

		var wantRows, wantState []string
		for c, n := range want {
			level := "silver"
			if n >= 4 {
				level = "gold"
			}
			wantRows = append(wantRows, fmt.Sprintf("%d|%d|%s", c, n, level))
			wantState = append(wantState, fmt.Sprintf("0:loyalty|%d|%d", c, n))
		}
		got := e.snapshot(e.down, "SELECT customer_id, big_orders, level FROM "+e.tbl("loyalty"))
		if diff := diffRows(got, wantRows); diff != "" {
			t.Errorf("loyalty in %s differs from the big orders inserted:\n%s", store, diff)
		}
		// The state is that of the checkpoint: one count per customer.
		state := e.snapshot(e.down, "SELECT "+e.quote("function")+", k, v FROM "+e.tbl("binflow_state")+" WHERE flow = 'loyalty'")
		if diff := diffRows(state, wantState); diff != "" {
			t.Errorf("binflow_state in %s differs from the big orders inserted:\n%s", store, diff)
		}
		e.stop(p)
	})
}
