package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/functions"
)

// ColumnLister tells which columns upstream tables have now.
type ColumnLister interface {
	TableColumns(ctx context.Context, tables []string) (map[string][]string, error)
}

// MissingTableError is a flow's source table that the upstream lacks, or
// that binflow's user may not see (information_schema shows only tables it
// has a privilege on).
type MissingTableError struct {
	Flow              string
	Index, TableIndex int // flows[Index].tables[TableIndex]
	Table             string
}

func (e *MissingTableError) Error() string {
	return fmt.Sprintf("flow %s: flows[%d].tables[%d]: table %s does not exist on the upstream", e.Flow, e.Index, e.TableIndex, e.Table)
}

// BuildSpecs checks every configured flow against the upstream's tables and
// builds its chain. All problems are reported together, each naming the
// flow, the table or function and the column.
//
// readers opens the readers of lookup functions (nil refuses flows with
// lookups); ctx bounds their reads for as long as the flows run.
func BuildSpecs(ctx context.Context, flows []config.Flow, reg *functions.Registry, lister ColumnLister, readers functions.RowReaders) ([]Spec, error) {
	var all []string
	for _, f := range flows {
		all = append(all, f.Tables...)
	}
	columns, err := lister.TableColumns(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("read upstream table columns: %w", err)
	}
	var specs []Spec
	var errs []error
	for i, f := range flows {
		input, err := commonColumns(f, i, columns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		chain, err := functions.BuildTables(f, reg, input, functions.Env{Tables: columns, Readers: readers, Context: ctx})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var sinks []string
		for _, t := range functions.Tables(f) {
			sinks = append(sinks, t.Name)
		}
		specs = append(specs, Spec{Name: f.Name, Tables: f.Tables, Chain: chain, Sinks: sinks})
	}
	return specs, errors.Join(errs...)
}

// commonColumns is the columns every source table of a flow has, in the
// order of the first table. A joined table's rows go to its join only: its
// columns are not the flow's.
func commonColumns(f config.Flow, i int, columns map[string][]string) ([]string, error) {
	joined := ""
	for _, fn := range f.Functions {
		if fn.Kind == config.KindJoin {
			joined = fn.Table
		}
	}
	var common []string
	first := true
	for j, t := range f.Tables {
		cols, ok := columns[t]
		if !ok {
			return nil, &MissingTableError{Flow: f.Name, Index: i, TableIndex: j, Table: t}
		}
		if t == joined {
			continue
		}
		if first {
			first = false
			common = append(common, cols...)
			continue
		}
		have := functions.NewLayout(cols)
		kept := common[:0]
		for _, c := range common {
			if have.Index(c) >= 0 {
				kept = append(kept, c)
			}
		}
		common = kept
	}
	return common, nil
}
