package status

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/flow"
)

// The Grafana dashboard in dashboards/ must only query metrics binflow
// exports, so that renaming one breaks this test, not an operator's graph.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../dashboards/binflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboards/binflow.json is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard without uid, title or panels")
	}

	r := newRig(t)
	r.m.Attach(r.engine)
	r.progress.events(1)
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
	used := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range metric.FindAllString(target.Expr, -1) {
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(name, suffix); ok && exported[trimmed] {
						base = trimmed
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which binflow does not export", p.Title, name)
				}
				used++
			}
		}
	}
	if used < 20 {
		t.Errorf("the dashboard queries only %d metrics", used)
	}
}
