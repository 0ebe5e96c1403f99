package functions

import (
	"strings"
	"testing"

	"github.com/binflow/binflow/schema"
)

func TestFilterJudgesEachImage(t *testing.T) {
	layout := NewLayout(orderCols)
	cases := []struct {
		name   string
		change Change
		want   string // op emitted, "" for dropped
	}{
		{"insert kept", ins(order(1, 1, "150", "paid")), "insert"},
		{"insert dropped", ins(order(1, 1, "150", "cancelled")), ""},
		{"delete kept", del(order(1, 1, "150", "paid")), "delete"},
		{"delete of a filtered row dropped", del(order(1, 1, "5", "paid")), ""},
		{"update inside", upd(order(1, 1, "150", "paid"), order(1, 2, "160", "paid")), "update"},
		{"update entering becomes insert", upd(order(1, 1, "5", "paid"), order(1, 1, "150", "paid")), "insert"},
		{"update leaving becomes delete", upd(order(1, 1, "150", "paid"), order(1, 1, "150", "cancelled")), "delete"},
		{"update outside dropped", upd(order(1, 1, "5", "paid"), order(1, 1, "6", "paid")), ""},
	}
	f, err := NewFilter(`status != "cancelled" && amount > 100 && customer_id < 10`, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.change.Layout = layout
			got := ""
			err := f.Process(&c.change, func(out *Change) error {
				got = out.Op.String()
				if (out.Op == schema.Insert && (out.Before != nil || out.After == nil)) || (out.Op == schema.Delete && (out.After != nil || out.Before == nil)) {
					t.Errorf("%s with images before=%v after=%v", out.Op, out.Before, out.After)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("emitted %q, want %q", got, c.want)
			}
		})
	}
}

func TestFilterRejectsBadExpressions(t *testing.T) {
	for _, src := range []string{`amount >`, `no_such_column > 1`, `upper(nope) == "X"`} {
		if _, err := NewFilter(src, orderCols); err == nil || !strings.Contains(err.Error(), "filter expression") {
			t.Errorf("%q: err = %v, want a compile error", src, err)
		}
	}
	// Not a boolean: known only once values are there, and then an error,
	// never a silent drop.
	f, err := NewFilter(`amount + 1`, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	c := ins(order(1, 1, "5", "new"))
	c.Layout = NewLayout(orderCols)
	if err := f.Process(&c, noNext); err == nil || !strings.Contains(err.Error(), `filter "amount + 1"`) {
		t.Errorf("non-boolean filter result: err = %v", err)
	}
}

func BenchmarkFilter(b *testing.B) {
	f, err := NewFilter(`status != "cancelled" && amount > 100`, orderCols)
	if err != nil {
		b.Fatal(err)
	}
	c := ins(order(1, 1, "150.25", "paid"))
	c.Layout = NewLayout(orderCols)
	next := func(*Change) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Process(&c, next); err != nil {
			b.Fatal(err)
		}
	}
}
