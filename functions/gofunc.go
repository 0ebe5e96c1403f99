package functions

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/binflow/binflow/schema"
)

// GoFunction is a user function registered by name and named in config.
// New is called once per flow that uses it, with the function's params.
type GoFunction interface {
	New(params map[string]string) (Function, error)
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
type Emitter[T any] struct {
	layout  *Layout
	binding *schema.StructBinding
	next    Next
	table   *schema.Table
}

// Upsert emits row as an insert-or-replace.
func (e *Emitter[T]) Upsert(row *T) error {
	vals := make([]any, len(e.layout.Names))
	e.binding.Encode(row, vals)
	return e.next(&Change{Op: schema.Insert, Layout: e.layout, Table: e.table, After: vals})
}

// Delete emits the removal of row (only its key columns matter to a sink).
func (e *Emitter[T]) Delete(row *T) error {
	vals := make([]any, len(e.layout.Names))
	e.binding.Encode(row, vals)
	return e.next(&Change{Op: schema.Delete, Layout: e.layout, Table: e.table, Before: vals})
}

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

type typedFactory[In, Out any] struct{ fn TypedFunc[In, Out] }

func (f typedFactory[In, Out]) New(map[string]string) (Function, error) {
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
	return &typedFunction[In, Out]{fn: f.fn, inType: reflect.TypeOf((*In)(nil)).Elem(), out: Emitter[Out]{layout: layout, binding: binding},
		bindings: map[*Layout]*schema.StructBinding{}}, nil
}

type typedFunction[In, Out any] struct {
	fn       TypedFunc[In, Out]
	inType   reflect.Type
	out      Emitter[Out]
	bindings map[*Layout]*schema.StructBinding
}

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
	out.next, out.table = next, c.Table
	return t.fn(ev, &out)
}
