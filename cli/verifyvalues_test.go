package cli

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestValueFormSame(t *testing.T) {
	ts := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	d := decimal.RequireFromString
	tests := []struct {
		name      string
		want, got any
		same      bool
	}{
		{"int and decimal", int64(5), d("5.00"), true},
		{"decimal and its text (SQLite)", d("12.50"), "12.50", true},
		{"decimal and other text", d("12.50"), "12.51", false},
		{"decimal and non-number text", d("1"), "one", false},
		{"average rounded to the column's scale", d("1.3333333333333333"), d("1.333333"), true},
		{"average rounded to the text's scale", d("1.3333333333333333"), "1.3333", true},
		{"average wrongly rounded", d("1.3333333333333333"), "1.3334", false},
		{"time to the microsecond", ts, ts.Truncate(time.Microsecond), true},
		{"time and its text (SQLite)", ts, "2025-03-04 05:06:07.123456", true},
		{"time and another text", ts, "2025-03-04 05:06:08.123456", false},
		{"bytes and bytes", []byte{0, 1}, []byte{0, 1}, true},
		{"bytes and other bytes", []byte{0, 1}, []byte{0, 2}, false},
		{"text and bytes", "ab", []byte("ab"), true},
		{"NULL and NULL", nil, nil, true},
		{"NULL and zero", nil, int64(0), false},
		{"zero and NULL", int64(0), nil, false},
		{"bool and its number", true, int64(1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (valueForm{}).same(tt.want, tt.got); got != tt.same {
				t.Errorf("same(%#v, %#v) = %v, want %v", tt.want, tt.got, got, tt.same)
			}
		})
	}
}

func TestValueFormKeysMeetStoredValues(t *testing.T) {
	ts := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		form             valueForm
		computed, stored any
		meet             bool
	}{
		{"MySQL: int and decimal", valueForm{}, int64(5), decimal.RequireFromString("5.0"), true},
		{"MySQL: time and time", valueForm{}, ts, ts.In(time.FixedZone("x", 3600)), true},
		{"MySQL: text and bytes", valueForm{}, "a", []byte("a"), true},
		{"MySQL: number and its text stay apart", valueForm{}, int64(5), "5", false},
		{"SQLite: decimal and its text", sqliteForm, decimal.RequireFromString("12.50"), "12.50", true},
		{"SQLite: time and its text", sqliteForm, ts, "2025-03-04 05:00:00.000000", true},
		{"SQLite: uint64 and integer", sqliteForm, uint64(7), int64(7), true},
		{"SQLite: text keys stay exact", sqliteForm, "007", "7", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.form.key([]any{tt.computed}), tt.form.key([]any{tt.stored})
			if (a == b) != tt.meet {
				t.Errorf("key(%#v) = %q, key(%#v) = %q: meet %v, want %v", tt.computed, a, tt.stored, b, a == b, tt.meet)
			}
		})
	}
}

func TestValueFormCompare(t *testing.T) {
	tests := []struct {
		name string
		form valueForm
		a, b any
		want int
	}{
		{"numbers", valueForm{}, int64(9), decimal.RequireFromString("10"), -1},
		{"number and its text", valueForm{}, decimal.RequireFromString("9.5"), "10.00", -1},
		{"SQLite: numeric text orders as numbers", sqliteForm, "9.00", "10.00", -1},
		{"MySQL: text orders by bytes", valueForm{}, "9.00", "10.00", 1},
		{"time and its text", valueForm{}, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "2024-12-31 23:59:59.000000", 1},
		{"text", valueForm{}, "a", "b", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.form.compare(tt.a, tt.b)
			if err != nil || got != tt.want {
				t.Errorf("compare(%#v, %#v) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
			}
		})
	}
	if _, err := (valueForm{}).compare(int64(1), time.Now()); err == nil {
		t.Error("a number and a time compared without an error")
	}
}
