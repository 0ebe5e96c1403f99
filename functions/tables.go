package functions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/binflow/binflow/config"
)

// Table is a downstream table a flow writes, with the key it writes by (the
// table's only unique key must be exactly these columns).
type Table struct {
	Name  string
	Key   []string
	Index int    // the function that writes it
	What  string // "sink", "aggregate state" or "join state"
	// Shape says, for state tables binflow defines, which columns the table
	// must have: what a user creating it needs to know.
	Shape string
}

// Tables lists the downstream tables flow f writes: each sink's table and
// each aggregate's state tables (for min, max and count_distinct), so that
// binflow can check them all before it starts. (binflow_state, where Go
// functions keep their state, comes with binflow's migrations.)
func Tables(f config.Flow) []Table {
	var out []Table
	for i, fn := range f.Functions {
		switch fn.Kind {
		case config.KindSink:
			out = append(out, Table{Name: fn.Table, Key: fn.Key, Index: i, What: "sink"})
		case config.KindJoin:
			_, joinedOn := fn.JoinOn()
			out = append(out, Table{Name: fn.State, Key: joinedOn, Index: i, What: "join state",
				Shape: fmt.Sprintf("columns %s with the types they have in %s, primary key (%s)",
					strings.Join(append(slices.Clone(joinedOn), fn.Columns...), ", "), fn.Table, strings.Join(joinedOn, ", "))})
		case config.KindAggregate:
			if i+1 >= len(f.Functions) {
				continue
			}
			sink := f.Functions[i+1].Table
			seen := map[string]bool{}
			for _, a := range fn.Aggregates {
				switch a.Func {
				case AggMin, AggMax, AggCountDistinct:
					if a.Of == "" || seen[a.Of] {
						continue
					}
					seen[a.Of] = true
					key := append(fn.AggregateKey(), a.Of)
					out = append(out, Table{Name: StateTable(sink, a.Of), Key: key, Index: i, What: "aggregate state",
						Shape: fmt.Sprintf("columns %s (typed as in the sink's table), %s (typed as the aggregate's input column), then %s BIGINT NOT NULL; primary key (%s)",
							strings.Join(fn.AggregateKey(), ", "), a.Of, StateCountColumn, strings.Join(key, ", "))})
				}
			}
		}
	}
	return out
}
