package main

// The status page in a real headless Chromium (Debian's chromium package,
// installed by `testenv/env.sh install-chromium`), driven over the DevTools
// protocol: it must list every flow and update its numbers and charts by
// itself, without a reload.

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/binflow/binflow/testenv"
)

// chromiumPath finds Chromium, or skips (fails under BINFLOW_REQUIRE_TESTENV=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed: run `testenv/env.sh install-chromium` (as root; `make test` does)"
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// pageRow is a flow's row of the page's table, and its chart lines.
type pageRow struct {
	Flow, State, Lag, RowsIn, RowsOut string
	ThroughputPoints, LagPoints       int
}

const readRows = `[...document.querySelectorAll("#flows tr")].map((tr) => ({
  Flow: tr.dataset.flow,
  State: tr.dataset.state,
  Lag: tr.querySelector(".lag").textContent,
  RowsIn: tr.querySelector(".rows-in").textContent,
  RowsOut: tr.querySelector(".rows-out").textContent,
  ThroughputPoints: Number(document.querySelector('#chart-throughput polyline[data-flow="' + tr.dataset.flow + '"]')?.dataset.points || 0),
  LagPoints: Number(document.querySelector('#chart-lag polyline[data-flow="' + tr.dataset.flow + '"]')?.dataset.points || 0),
}))`

func TestStatusPageInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	o := newObservedEnv(t, 30*time.Second, "")
	o.startServing()
	o.load(5, 5, 5)
	o.waitForCaughtUp(30 * time.Second)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(o.url+"/"), chromedp.WaitVisible(`tr[data-flow="orders_copy"]`)); err != nil {
		t.Fatalf("load the status page: %v", err)
	}
	rows := func() map[string]pageRow {
		t.Helper()
		list, err := chromedp.Run(ctx, chromedp.Evaluate[[]pageRow](readRows))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		byFlow := map[string]pageRow{}
		for _, r := range list {
			byFlow[r.Flow] = r
		}
		return byFlow
	}
	first := rows()
	for _, name := range o.flows {
		r, ok := first[name]
		if !ok {
			t.Errorf("the page does not show flow %s: %+v", name, first)
			continue
		}
		if r.State != "running" || !strings.HasPrefix(r.Lag, "0s") {
			t.Errorf("flow %s on the page: %+v; want running and caught up", name, r)
		}
	}
	badge, err := chromedp.Run(ctx, chromedp.Text(`#badge`))
	if err != nil || badge != "ready" {
		t.Errorf("badge %q (%v), want ready", badge, err)
	}

	before := number(t, first["orders_copy"].RowsIn)
	o.load(20, 5, 5)
	var now map[string]pageRow
	o.waitFor(30*time.Second, "the page to show the new rows without a reload", func() bool {
		now = rows()
		r := now["orders_copy"]
		return number(t, r.RowsIn) > before && r.ThroughputPoints >= 2 && r.LagPoints >= 2
	})
	for _, name := range o.flows {
		if r := now[name]; r.ThroughputPoints < 2 || r.LagPoints < 2 {
			t.Errorf("flow %s has %d throughput and %d lag points on the charts, want lines", name, r.ThroughputPoints, r.LagPoints)
		}
	}
	polls, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#updated").dataset.polls`))
	if n, _ := strconv.Atoi(polls); err != nil || n < 2 {
		t.Errorf("the page polled %q times (%v)", polls, err)
	}
}

// number parses a count as the page shows it ("1,234").
func number(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatalf("the page shows %q where a count belongs", s)
	}
	return n
}
