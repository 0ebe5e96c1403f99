package functions

import (
	"context"
	"fmt"
	"slices"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
)

// Chain is a flow's functions in order, ready to run.
type Chain struct {
	flow   string
	steps  []Function
	accs   []Accumulator
	nexts  []Next
	states []*State // Go functions' state, saved with each batch

	join   *Join // the flow's join, if any, at step joinAt
	joinAt int
}

// Process runs one change through the chain. A joined table's changes go
// straight to their join: the functions before it work on the flow's rows.
func (c *Chain) Process(ch *Change) error {
	if c.join != nil && c.join.reads(ch.Table) {
		return c.nexts[c.joinAt](ch)
	}
	return c.nexts[0](ch)
}

// Flush writes what the chain accumulated since the last Reset into b.
func (c *Chain) Flush(b *connectors.Batch) error {
	for _, a := range c.accs {
		if err := a.Flush(b); err != nil {
			return err
		}
	}
	for _, s := range c.states {
		s.flush(b)
	}
	return nil
}

// Pending is the number of output rows the chain holds for the next flush.
func (c *Chain) Pending() int {
	n := 0
	for _, a := range c.accs {
		n += a.Pending()
	}
	for _, s := range c.states {
		n += len(s.dirty)
	}
	return n
}

// Reset forgets accumulated state after a committed batch.
func (c *Chain) Reset() {
	for _, a := range c.accs {
		a.Reset()
	}
	for _, s := range c.states {
		s.reset()
	}
}

// outputter is implemented by functions whose output columns are known
// from their input columns, so a chain is checked before it runs.
type outputter interface {
	Output(in []string) ([]string, error)
}

// inputter is implemented by functions that read named columns directly.
type inputter interface {
	Inputs() []string
}

// StepError names the flow and function a build problem belongs to.
type StepError struct {
	Flow  string
	Index int
	Kind  string
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("flow %s: functions[%d] (%s): %v", e.Flow, e.Index, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Build makes the chain of flow f. input is the columns every source table
// of the flow has (checked against the upstream at start); every column a
// function names is checked against what reaches it.
func Build(f config.Flow, reg *Registry, input []string) (*Chain, error) {
	return BuildTables(f, reg, input, Env{})
}

// Env is what functions that read other tables need to be built.
type Env struct {
	// Tables holds the columns of each upstream table of the flow (a
	// joined table's among them).
	Tables map[string][]string
	// Readers opens lookups' readers; Context bounds their reads.
	Readers RowReaders
	Context context.Context
}

// BuildTables is Build for flows that join or look up: input is the columns
// the flow's tables other than a joined one have in common.
func BuildTables(f config.Flow, reg *Registry, input []string, env Env) (*Chain, error) {
	c := &Chain{flow: f.Name}
	var lookedUp []string // columns added by lookups, which functions after them must not depend on
	cols := input
	for i, fc := range f.Functions {
		wrap := func(err error) error { return &StepError{Flow: f.Name, Index: i, Kind: fc.Kind, Err: err} }
		var step Function
		if len(lookedUp) > 0 {
			if err := afterLookup(fc, lookedUp); err != nil {
				return nil, wrap(err)
			}
		}
		switch fc.Kind {
		case "filter":
			fl, err := NewFilter(fc.Expr, cols)
			if err != nil {
				return nil, wrap(err)
			}
			step = fl
		case "project":
			p, err := NewProject(fc.Columns, fc.Rename)
			if err != nil {
				return nil, wrap(err)
			}
			step = p
		case "aggregate":
			sink, err := sinkAfter(f, i)
			if err != nil {
				return nil, wrap(err)
			}
			specs := make([]AggSpec, len(fc.Aggregates))
			for j, a := range fc.Aggregates {
				specs[j] = AggSpec{Column: a.Column, Func: a.Func, Of: a.Of}
			}
			ac := AggConfig{Table: sink.Table, GroupBy: fc.GroupBy, Aggs: specs}
			if fc.Bucket.IsSet() {
				ac.Bucket = &Bucket{Column: fc.Bucket.Column, Every: fc.Bucket.Every, As: fc.Bucket.As}
			}
			a, err := NewAggregateOf(ac)
			if err != nil {
				return nil, wrap(err)
			}
			step = a
		case "map":
			m, err := NewMap(MapConfig{Set: fc.Set, Cast: fc.Cast, Rename: fc.Rename, Drop: fc.Drop}, cols)
			if err != nil {
				return nil, wrap(err)
			}
			step = m
		case "expand":
			x, err := NewExpand(ExpandConfig{Of: fc.Of, As: fc.As, Format: fc.Format, Separator: fc.Separator, Position: fc.Position})
			if err != nil {
				return nil, wrap(err)
			}
			step = x
		case config.KindJoin:
			sink, err := sinkAfter(f, i)
			if err != nil {
				return nil, wrap(err)
			}
			if c.join != nil {
				return nil, wrap(fmt.Errorf("a flow has at most one join"))
			}
			rowOn, joinedOn := fc.JoinOn()
			j, err := NewJoin(JoinConfig{Table: fc.Table, RowOn: rowOn, JoinedOn: joinedOn, Columns: fc.Columns,
				Names: fc.JoinedNames(), State: fc.State, Sink: sink.Table, SinkKey: sink.Key})
			if err != nil {
				return nil, wrap(err)
			}
			joinedCols, ok := env.Tables[fc.Table]
			if !ok {
				return nil, wrap(fmt.Errorf("the columns of the joined table %s are unknown (is it one of the flow's tables?)", fc.Table))
			}
			if err := j.CheckJoined(joinedCols); err != nil {
				return nil, wrap(err)
			}
			c.join, c.joinAt = j, len(c.steps)
			step = j
		case config.KindLookup:
			if env.Readers == nil {
				return nil, wrap(fmt.Errorf("lookups cannot read tables here (no connection to read %s from)", fc.Table))
			}
			ctx := env.Context
			if ctx == nil {
				ctx = context.Background()
			}
			rowOn, otherOn := fc.JoinOn()
			from := fc.From
			if from == "" {
				from = config.LookupUpstream
			}
			reader, err := env.Readers(ctx, from, fc.Table, otherOn, fc.Columns)
			if err != nil {
				return nil, wrap(fmt.Errorf("%s table %s: %w", from, fc.Table, err))
			}
			l, err := NewLookup(ctx, reader, LookupConfig{Table: fc.Table, RowOn: rowOn, Names: fc.JoinedNames(),
				Missing: fc.Missing, CacheRows: fc.CacheRows, CacheTTL: fc.CacheTTL.Duration})
			if err != nil {
				return nil, wrap(err)
			}
			lookedUp = append(lookedUp, fc.JoinedNames()...)
			step = l
		case "go":
			gf, ok := reg.Lookup(fc.Name)
			if !ok {
				return nil, wrap(fmt.Errorf("no Go function registered as %q (registered: %v)", fc.Name, reg.Names()))
			}
			fn, err := gf.New(fc.Params)
			if err != nil {
				return nil, wrap(err)
			}
			if sf, ok := fn.(StatefulFunction); ok {
				st := newState(f.Name, i, fc.Name)
				sf.UseState(st)
				c.states = append(c.states, st)
			}
			step = fn
		case "sink":
			if i > 0 && f.Functions[i-1].Kind == "aggregate" {
				if i != len(f.Functions)-1 {
					return nil, wrap(fmt.Errorf("an aggregate's sink must be the last function: an aggregate passes no rows on"))
				}
				continue // the aggregate writes its deltas to this sink's table
			}
			s, err := NewSinkMode(fc.Table, fc.Key, fc.Mode)
			if err != nil {
				return nil, wrap(err)
			}
			if err := s.Check(cols); err != nil {
				return nil, wrap(err)
			}
			step = s
		default:
			return nil, wrap(fmt.Errorf("unknown function kind %q", fc.Kind))
		}
		if in, ok := step.(inputter); ok {
			have := NewLayout(cols)
			for _, n := range in.Inputs() {
				if have.Index(n) < 0 {
					return nil, wrap(&ColumnError{Function: fc.Kind, Column: n})
				}
			}
		}
		if o, ok := step.(outputter); ok {
			out, err := o.Output(cols)
			if err != nil {
				return nil, wrap(err)
			}
			cols = out
		}
		c.steps = append(c.steps, step)
		if a, ok := step.(Accumulator); ok {
			c.accs = append(c.accs, a)
		}
	}
	if len(c.accs) == 0 {
		return nil, fmt.Errorf("flow %s: the chain writes nothing: it must end with a sink", f.Name)
	}
	c.nexts = make([]Next, len(c.steps)+1)
	c.nexts[len(c.steps)] = func(*Change) error { return nil }
	for i := len(c.steps) - 1; i >= 0; i-- {
		step, next := c.steps[i], c.nexts[i+1]
		c.nexts[i] = func(ch *Change) error { return step.Process(ch, next) }
	}
	return c, nil
}

// afterLookup refuses functions that would need a before image's looked-up
// values (a lookup reads the value current when binflow processes a change,
// which is not the one applied when the row was written): retractions,
// filters and expansions of changes, sinks keyed on looked-up columns.
func afterLookup(fc config.Function, lookedUp []string) error {
	switch fc.Kind {
	case config.KindProject, config.KindMap, config.KindLookup:
		return nil
	case config.KindSink:
		if fc.Mode == config.ModeDelete {
			return fmt.Errorf("a delete sink cannot follow a lookup; put it before the lookup")
		}
		for _, k := range fc.Key {
			if slices.Contains(lookedUp, k) {
				return fmt.Errorf("the sink's key column %q is looked up: a later change of the looked-up row would leave the old key behind; use a join", k)
			}
		}
		return nil
	}
	return fmt.Errorf("a function of kind %q cannot follow a lookup: the looked-up values of a row's before image are not the ones applied when it was written, "+
		"so it could not retract them; put it before the lookup, or use a join (exact as either side changes)", fc.Kind)
}

func sinkAfter(f config.Flow, i int) (config.Function, error) {
	if i+1 >= len(f.Functions) || f.Functions[i+1].Kind != "sink" {
		return config.Function{}, fmt.Errorf("the %s must be followed by a sink", f.Functions[i].Kind)
	}
	return f.Functions[i+1], nil
}
