package main

// The downstream stores beyond MySQL: a PostgreSQL outage mid-stream. (The
// exactly-once and kill -9 tests run against every store through the
// harness: forEachStore.)

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/testenv"
)

// retryLine is a "downstream write failed; retrying" log line.
type retryLine struct {
	Flow       string  `json:"flow"`
	Message    string  `json:"message"`
	Checkpoint string  `json:"checkpoint"`
	RetryIn    float64 `json:"retry_in"` // milliseconds
}

// retries returns the retry lines of a binflow's JSON log, by flow.
func retries(t *testing.T, log string) map[string][]retryLine {
	t.Helper()
	out := map[string][]retryLine{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l retryLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && strings.HasPrefix(l.Message, "downstream write failed; retrying") {
			out[l.Flow] = append(out[l.Flow], l)
		}
	}
	return out
}

// TestPostgresOutageIsRetried: the PostgreSQL server stops mid-stream while
// the upstream keeps writing; binflow keeps running, retries each flow's
// batch with a growing backoff and never moves a checkpoint while the
// server is down; once it is back every derived table equals its SQL
// recomputation.
func TestPostgresOutageIsRetried(t *testing.T) {
	outage := time.Duration(envInt(t, "BINFLOW_POSTGRES_OUTAGE", 6)) * time.Second
	e := newEnv(t, envOptions{store: storePostgres})
	p := e.start()
	load := e.startLoad(10, 30, 20*time.Millisecond)
	time.Sleep(time.Second)
	e.caughtUp(30 * time.Second)

	testenv.StopServer(t, "postgres")
	stoppedAt := len(p.out.String())
	time.Sleep(outage)
	if p.cmd.ProcessState != nil {
		t.Fatalf("binflow exited during the outage:\n%s", tail(p.out.String(), 3000))
	}
	down := retries(t, p.out.String()[stoppedAt:])
	testenv.StartServer(t, "postgres")
	txns := load.stop(t)
	e.caughtUp(120 * time.Second)
	rows := e.verify()
	e.stop(p)

	if len(down) == 0 {
		t.Fatalf("no retries logged during a %s outage:\n%s", outage, tail(p.out.String(), 3000))
	}
	for flow, ls := range down {
		// While the server is down nothing commits: every retry of the flow
		// reports the same checkpoint.
		for _, l := range ls[1:] {
			if l.Checkpoint != ls[0].Checkpoint {
				t.Errorf("flow %s: checkpoint moved from %s to %s while PostgreSQL was down", flow, ls[0].Checkpoint, l.Checkpoint)
				break
			}
		}
		// Backoff: the waits grow (to retry_max, 1s), never a busy loop.
		// Retries of a batch that failed as the server went down may start
		// over, so only a flow's longest run of retries is judged.
		longest := 0.0
		for _, l := range ls {
			longest = max(longest, l.RetryIn)
		}
		if len(ls) > 1 && longest <= ls[0].RetryIn {
			t.Errorf("flow %s: %d retries in %s without the wait growing (%v ms)", flow, len(ls), outage, longest)
		}
		if per := outage / time.Duration(len(ls)); per < 50*time.Millisecond {
			t.Errorf("flow %s: %d retries in %s: not backing off", flow, len(ls), outage)
		}
	}
	t.Logf("postgres outage of %s survived; %d flows retried, %d transactions, %d derived rows verified", outage, len(down), txns, rows)
}
