package cli

import (
	"strings"
	"testing"

	"github.com/binflow/binflow/config"
)

// rebuild empties a flow's derived tables and verify compares them whole:
// both must refuse a flow whose table another flow writes too, named with
// or without the downstream database.
func TestOwnedFlow(t *testing.T) {
	sink := func(table string) []config.Function {
		return []config.Function{{Kind: config.KindSink, Table: table, Key: []string{"id"}}}
	}
	cfg := &config.Config{Downstream: config.Downstream{Database: "derived"}, Flows: []config.Flow{
		{Name: "alone", Functions: sink("alone_t")},
		{Name: "a", Functions: sink("shared")},
		{Name: "b", Functions: sink("derived.shared")},
	}}
	tests := []struct {
		name, wantErr string
	}{
		{"alone", ""},
		{"a", "flow a shares its derived table derived.shared with flow b"},
		{"b", "flow b shares its derived table shared with flow a"},
		{"nobody", `no flow named "nobody"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ownedFlow(cfg, tt.name)
			switch {
			case tt.wantErr == "" && (err != nil || f.Name != tt.name):
				t.Errorf("ownedFlow(%q) = %q, %v", tt.name, f.Name, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ownedFlow(%q): error %v, want %q", tt.name, err, tt.wantErr)
			}
		})
	}
}
