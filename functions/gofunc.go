package functions

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/binflow/binflow/schema"
)

// GoFunction is a user function registered by name and named in config.
// New is called once per flow that uses it, with the function's params.
// The Function it returns may emit any number of changes per change it
// receives (emit), none (drop), or return an error (fail: the flow stops,
// naming the table and binlog position).
type GoFunction interface {
	New(params map[string]string) (Function, error)
}

// StatefulFunction is a Function that keeps per-flow state: the chain hands
// it its State (see State) before the first change.
type StatefulFunction interface {
	Function
	UseState(s *State)
}

// Registry holds the Go functions a binflow binary offers. It is a value:
// build one in main, register functions, hand it to the flow builder.
type Registry struct {
	fns map[string]GoFunction
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{fns: map[string]GoFunction{}} }

// Register adds fn under name; names are unique.
func (r *Registry) Register(name string, fn GoFunction) error {
	if name == "" {
		return fmt.Errorf("register go function: empty name")
	}
	if _, dup := r.fns[name]; dup {
		return fmt.Errorf("register go function %q: already registered", name)
	}
	r.fns[name] = fn
	return nil
}

// Lookup returns the function registered under name.
func (r *Registry) Lookup(name string) (GoFunction, bool) {
	fn, ok := r.fns[name]
	return fn, ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.fns))
	for n := range r.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Event is one upstream change decoded into the user's struct type.
type Event[T any] struct {
	Op            schema.Op
	Table         string
	Before, After *T // nil for insert / delete respectively
}

// Emitter sends rows of the user's output struct type down the chain: to
// the sink, Upsert writes the row and Delete removes the row with its key.
// Emitting nothing drops the change. State is the function's per-flow
// state, saved with the checkpoint.
type Emitter[T any] struct {
	layout  *Layout
	binding *schema.StructBinding
	next    Next
	table   *schema.Table
	txn     *schema.Txn
	seq     int
	state   *State
}

// Upsert emits row as an insert-or-replace.
func (e *Emitter[T]) Upsert(row *T) error {
	vals := make([]any, len(e.layout.Names))
	e.binding.Encode(row, vals)
	return e.next(&Change{Op: schema.Insert, Layout: e.layout, Table: e.table, After: vals, Txn: e.txn, Seq: e.seq})
}

// Delete emits the removal of row (only its key columns matter to a sink).
func (e *Emitter[T]) Delete(row *T) error {
	vals := make([]any, len(e.layout.Names))
	e.binding.Encode(row, vals)
	return e.next(&Change{Op: schema.Delete, Layout: e.layout, Table: e.table, Before: vals, Txn: e.txn, Seq: e.seq})
}

// Update emits a change of row from before to after (an aggregate
// retracts before and applies after; a sink moves the key if it changed).
func (e *Emitter[T]) Update(before, after *T) error {
	b, a := make([]any, len(e.layout.Names)), make([]any, len(e.layout.Names))
	e.binding.Encode(before, b)
	e.binding.Encode(after, a)
	return e.next(&Change{Op: schema.Update, Layout: e.layout, Table: e.table, Before: b, After: a, Txn: e.txn, Seq: e.seq})
}

// State is the function's per-flow state (see State).
func (e *Emitter[T]) State() *State { return e.state }

// TypedFunc is the body of a typed Go function: it gets each change decoded
// into In and emits Out rows. Returning an error stops the flow, naming the
// table and binlog position.
type TypedFunc[In, Out any] func(ev Event[In], out *Emitter[Out]) error

// Typed turns a function over user structs into a GoFunction. In's fields are
// bound to the upstream columns by tag (`binflow:"col"` or `db:"col"`), once
// per table schema; Out's tagged fields are the output columns.
func Typed[In, Out any](fn TypedFunc[In, Out]) GoFunction {
	return typedFactory[In, Out]{fn: fn}
}

// TypedSetup is Typed for a function with parameters: setup runs once per
// flow with the function's params from config and returns the function (or
// an error, which stops binflow at start naming the flow and function).
func TypedSetup[In, Out any](setup func(p Params) (TypedFunc[In, Out], error)) GoFunction {
	return typedFactory[In, Out]{setup: setup}
}

type typedFactory[In, Out any] struct {
	fn    TypedFunc[In, Out]
	setup func(Params) (TypedFunc[In, Out], error)
}

func (f typedFactory[In, Out]) New(params map[string]string) (Function, error) {
	fn := f.fn
	if f.setup != nil {
		var err error
		if fn, err = f.setup(Params(params)); err != nil {
			return nil, err
		}
		if fn == nil {
			return nil, fmt.Errorf("setup returned no function")
		}
	}
	outType := reflect.TypeOf((*Out)(nil)).Elem()
	names := schema.Tagged(outType)
	if len(names) == 0 {
		return nil, fmt.Errorf("output type %s has no tagged fields", outType)
	}
	layout := NewLayout(names)
	binding, err := schema.Bind(outType, names)
	if err != nil {
		return nil, err
	}
	return &typedFunction[In, Out]{fn: fn, inType: reflect.TypeOf((*In)(nil)).Elem(), out: Emitter[Out]{layout: layout, binding: binding},
		bindings: map[*Layout]*schema.StructBinding{}}, nil
}

type typedFunction[In, Out any] struct {
	fn       TypedFunc[In, Out]
	inType   reflect.Type
	out      Emitter[Out]
	bindings map[*Layout]*schema.StructBinding
}

// UseState hands the function its per-flow state.
func (t *typedFunction[In, Out]) UseState(s *State) { t.out.state = s }

// Inputs lists the upstream columns the function reads.
func (t *typedFunction[In, Out]) Inputs() []string { return schema.Tagged(t.inType) }

// Output lists the columns the function emits.
func (t *typedFunction[In, Out]) Output([]string) ([]string, error) { return t.out.layout.Names, nil }

func (t *typedFunction[In, Out]) Process(c *Change, next Next) error {
	b, ok := t.bindings[c.Layout]
	if !ok {
		var err error
		if b, err = schema.Bind(t.inType, c.Layout.Names); err != nil {
			return fmt.Errorf("go function input from %s: %w", tableName(c.Table), err)
		}
		t.bindings[c.Layout] = b
	}
	ev := Event[In]{Op: c.Op, Table: tableName(c.Table)}
	if c.Before != nil {
		ev.Before = new(In)
		if err := b.Decode(c.Before, ev.Before); err != nil {
			return fmt.Errorf("go function input from %s: %w", ev.Table, err)
		}
	}
	if c.After != nil {
		ev.After = new(In)
		if err := b.Decode(c.After, ev.After); err != nil {
			return fmt.Errorf("go function input from %s: %w", ev.Table, err)
		}
	}
	out := t.out
	out.next, out.table, out.txn, out.seq = next, c.Table, c.Txn, c.Seq
	return t.fn(ev, &out)
}
