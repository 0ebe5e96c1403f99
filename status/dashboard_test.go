package status

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/flow"
)

// dashboardQuery is one PromQL expression of a dashboard and where it is.
type dashboardQuery struct{ where, expr string }

// dashboardPanel is a Grafana panel; a row holds its panels when collapsed.
type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// dashboardQueries lists every query of a Grafana dashboard: the targets
// of its panels, those nested in rows included, and the queries of its
// template variables (a string, or an object with a query).
func dashboardQueries(data []byte) (uid, title string, panels int, queries []dashboardQuery, err error) {
	var dash struct {
		UID        string           `json:"uid"`
		Title      string           `json:"title"`
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Definition string          `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		return "", "", 0, nil, err
	}
	var walk func(path string, ps []dashboardPanel)
	walk = func(path string, ps []dashboardPanel) {
		for _, p := range ps {
			where := path + "panel " + fmt.Sprintf("%q", p.Title)
			panels++
			for _, t := range p.Targets {
				queries = append(queries, dashboardQuery{where, t.Expr})
			}
			walk(where+" > ", p.Panels)
		}
	}
	walk("", dash.Panels)
	for _, v := range dash.Templating.List {
		where := fmt.Sprintf("variable %q", v.Name)
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Query, &s) == nil:
			queries = append(queries, dashboardQuery{where, s})
		case json.Unmarshal(v.Query, &q) == nil:
			queries = append(queries, dashboardQuery{where, q.Query})
		default:
			return "", "", 0, nil, fmt.Errorf("%s: query %s is neither a string nor an object with a query", where, v.Query)
		}
		if v.Definition != "" {
			queries = append(queries, dashboardQuery{where + " definition", v.Definition})
		}
	}
	return dash.UID, dash.Title, panels, queries, nil
}

// Queries nested in collapsed rows and in template variables are found.
func TestDashboardQueriesWalksRowsAndTemplating(t *testing.T) {
	_, _, panels, queries, err := dashboardQueries([]byte(`{"uid": "u", "title": "t",
		"panels": [
			{"type": "row", "title": "open", "panels": []},
			{"type": "stat", "title": "top", "targets": [{"expr": "binflow_ready"}]},
			{"type": "row", "title": "collapsed", "collapsed": true, "panels": [
				{"type": "timeseries", "title": "nested", "targets": [{"expr": "binflow_nested_metric"}]}]}],
		"templating": {"list": [
			{"name": "datasource", "type": "datasource", "query": "prometheus"},
			{"name": "a", "type": "query", "query": "label_values(binflow_var_string, x)"},
			{"name": "b", "type": "query", "query": {"query": "label_values(binflow_var_object, y)", "refId": "b"},
			 "definition": "label_values(binflow_var_definition, y)"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range queries {
		got = append(got, q.where+": "+q.expr)
	}
	want := []string{`panel "top": binflow_ready`, `panel "collapsed" > panel "nested": binflow_nested_metric`,
		`variable "a": label_values(binflow_var_string, x)`, `variable "b": label_values(binflow_var_object, y)`,
		`variable "b" definition: label_values(binflow_var_definition, y)`}
	if panels != 4 || !slices.Equal(got, want) {
		t.Errorf("%d panels, queries\n%s\nwant 4 panels,\n%s", panels, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The Grafana dashboard in dashboards/ must only query metrics binflow
// exports, so that renaming one breaks this test, not an operator's graph.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../dashboards/binflow.json")
	if err != nil {
		t.Fatal(err)
	}
	uid, title, panels, queries, err := dashboardQueries(data)
	if err != nil {
		t.Fatalf("dashboards/binflow.json: %v", err)
	}
	if uid == "" || title == "" || panels == 0 {
		t.Fatalf("dashboard without uid, title or panels")
	}

	r := newRig(t)
	r.m.Attach(r.engine)
	r.progress.events(1)
	// A flow snapshotting, so that the snapshot series exist.
	r.flow("totals", func(f *flow.FlowStatus) {
		f.State, f.Snapshot = flow.StateSnapshotting, &flow.SnapshotStatus{Rows: 1, Estimate: 2}
	})
	r.poll(time.Second)
	r.m.BatchCommitted("orders", flow.BatchStats{RowsOut: 1, CommitTook: time.Millisecond})
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}

	metric := regexp.MustCompile(`\b(?:binflow|process|go)_[a-z_]+\b`)
	used := map[string]bool{}
	for _, q := range queries {
		for _, name := range metric.FindAllString(q.expr, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if trimmed, ok := strings.CutSuffix(name, suffix); ok && exported[trimmed] {
					base = trimmed
				}
			}
			if !exported[base] {
				t.Errorf("%s queries %s, which binflow does not export", q.where, name)
			}
			used[base] = true
		}
	}
	if len(used) < 30 {
		t.Errorf("the dashboard queries only %d metrics", len(used))
	}
	for _, m := range []string{"binflow_flow_snapshot_rows", "binflow_flow_snapshot_rows_estimate", "binflow_reader_reconnects_total", "binflow_build_info"} {
		if !used[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}
