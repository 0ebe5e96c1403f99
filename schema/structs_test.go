package schema

import (
	"database/sql"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

type Status string

type Audit struct {
	CreatedAt time.Time  `db:"created_at"`
	Deleted   *time.Time `db:"deleted_at"`
}

// everything has a field of each kind Bind accepts.
type everything struct {
	Audit
	ID       int64               `binflow:"id"`
	Small    int8                `db:"small"`
	U16      uint16              `db:"u16"`
	U64      uint64              `db:"u64"`
	Flag     bool                `db:"flag"`
	F32      float32             `db:"f32"`
	F64      float64             `db:"f64"`
	Name     string              `db:"name,omitempty"`
	State    Status              `db:"state"`
	Raw      []byte              `db:"raw"`
	Amount   decimal.Decimal     `db:"amount"`
	MaybeAmt decimal.NullDecimal `db:"maybe_amount"`
	Took     time.Duration       `db:"took"`
	Note     *string             `db:"note"`
	Count    *int32              `db:"count"`
	Any      any                 `db:"any"`
	NullStr  sql.NullString      `db:"null_str"`
	NullI    sql.NullInt64       `db:"null_int"`
	Ignored  string              `db:"-"`
	hidden   string              //nolint:unused // unexported: never bound
}

var everythingColumns = []string{"id", "small", "u16", "u64", "flag", "f32", "f64", "name", "state", "raw", "amount", "maybe_amount",
	"took", "note", "count", "any", "null_str", "null_int", "created_at", "deleted_at", "extra"}

func TestStructBindingDecodesEveryKind(t *testing.T) {
	b, err := Bind(reflect.TypeFor[everything](), everythingColumns)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 2, 29, 12, 0, 0, 500, time.UTC)
	raw := []byte{0, 1}
	row := []any{int64(math.MinInt64), int64(-128), uint64(65535), uint64(math.MaxUint64), int64(1), float32(1.5), 2.25,
		"név", "paid", raw, decimal.RequireFromString("123.45"), decimal.RequireFromString("1.5"),
		"-01:02:03.5", "note", int64(7), "anything", "s", int64(9), at, nil, "x"}
	var got everything
	if err := b.Decode(row, &got); err != nil {
		t.Fatal(err)
	}
	note, count := "note", int32(7)
	want := everything{Audit: Audit{CreatedAt: at}, ID: math.MinInt64, Small: -128, U16: 65535, U64: math.MaxUint64, Flag: true, F32: 1.5, F64: 2.25,
		Name: "név", State: "paid", Raw: []byte{0, 1}, Amount: decimal.RequireFromString("123.45"),
		MaybeAmt: decimal.NullDecimal{Decimal: decimal.RequireFromString("1.5"), Valid: true},
		Took:     -(time.Hour + 2*time.Minute + 3*time.Second + 500*time.Millisecond), Note: &note, Count: &count, Any: "anything",
		NullStr: sql.NullString{String: "s", Valid: true}, NullI: sql.NullInt64{Int64: 9, Valid: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
	}
	raw[0] = 9
	if got.Raw[0] != 0 {
		t.Error("[]byte field shares memory with the row")
	}

	// NULL everywhere: zero values, nil pointers, invalid Null types.
	nulls := make([]any, len(everythingColumns))
	if err := b.Decode(nulls, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, everything{}) {
		t.Errorf("all NULL decoded as %+v", got)
	}

	// Encode gives back the typed values rows carry.
	got = want
	out := make([]any, len(everythingColumns))
	b.Encode(&got, out)
	wantOut := []any{int64(math.MinInt64), int64(-128), uint64(65535), uint64(math.MaxUint64), true, float32(1.5), 2.25,
		"név", "paid", []byte{0, 1}, decimal.RequireFromString("123.45"), decimal.RequireFromString("1.5"),
		"-01:02:03.5", "note", int64(7), "anything", "s", int64(9), at, nil, nil}
	for i := range wantOut {
		if d, ok := wantOut[i].(decimal.Decimal); ok {
			if !d.Equal(out[i].(decimal.Decimal)) {
				t.Errorf("%s: encoded %#v", everythingColumns[i], out[i])
			}
			continue
		}
		if !reflect.DeepEqual(out[i], wantOut[i]) {
			t.Errorf("%s: encoded %T %#v, want %T %#v", everythingColumns[i], out[i], out[i], wantOut[i], wantOut[i])
		}
	}
}

func TestStructBindingDecodeDoesNotAllocate(t *testing.T) {
	type order struct {
		ID       int64           `db:"id"`
		Customer int64           `db:"customer_id"`
		Amount   decimal.Decimal `db:"amount"`
		Status   string          `db:"status"`
		Note     string          `db:"note"`
		Created  time.Time       `db:"created_at"`
	}
	tbl := benchOrdersTable()
	b, err := tbl.Binding(reflect.TypeFor[order]())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := tbl.Binding(reflect.TypeFor[order]()); again != b {
		t.Error("binding not cached per table and type")
	}
	row := []any{int64(1), int64(2), decimal.RequireFromString("1.5"), "paid", "note", time.Now().UTC()}
	var o order
	if n := testing.AllocsPerRun(100, func() {
		if err := b.Decode(row, &o); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Decode allocates %v times per row", n)
	}
}

func TestStructBindingErrors(t *testing.T) {
	type small struct {
		I8   int8          `db:"i8"`
		U8   uint8         `db:"u8"`
		When time.Time     `db:"when"`
		N    int           `db:"n"`
		Took time.Duration `db:"took"`
	}
	b, err := Bind(reflect.TypeFor[small](), []string{"i8", "u8", "when", "n", "took"})
	if err != nil {
		t.Fatal(err)
	}
	ok := []any{int64(1), uint64(1), time.Time{}, int64(1), "00:00:01"}
	cases := []struct {
		name  string
		col   int
		value any
		says  string
	}{
		{"int8 overflow", 0, int64(128), "overflows int8"},
		{"int8 underflow", 0, int64(-129), "overflows int8"},
		{"uint64 into int8", 0, uint64(200), "overflows int8"},
		{"negative into uint8", 1, int64(-1), "negative value -1"},
		{"uint8 overflow", 1, uint64(256), "overflows uint8"},
		{"string into int", 3, "7", "cannot store a string in int"},
		{"decimal into int", 3, decimal.NewFromInt(1), "cannot store a decimal.Decimal in int"},
		{"partial date into time.Time", 2, "2024-00-10", "zero month or day"},
		{"int into time.Time", 2, int64(5), "cannot store a int64 in time.Time"},
		{"bad TIME into Duration", 4, "soon", "not a TIME value"},
	}
	for _, c := range cases {
		row := append([]any(nil), ok...)
		row[c.col] = c.value
		var s small
		err := b.Decode(row, &s)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FieldError", c.name, err)
			continue
		}
		field := reflect.TypeFor[small]().Field(c.col).Name
		for _, want := range []string{"column " + []string{"i8", "u8", "when", "n", "took"}[c.col], "field " + field, c.says} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", c.name, err, want)
			}
		}
	}

	var s small
	if err := b.Decode(ok, s); err == nil || !strings.Contains(err.Error(), "want *schema.small") {
		t.Errorf("non-pointer destination: %v", err)
	}
	if err := b.Decode(ok[:2], &s); err == nil {
		t.Error("short row accepted")
	}
	if err := b.Decode(ok, (*small)(nil)); err == nil {
		t.Error("nil destination accepted")
	}

	bindErrs := []struct {
		name string
		typ  reflect.Type
		cols []string
		says string
	}{
		{"missing column", reflect.TypeFor[small](), []string{"i8", "u8", "when", "n"}, `field Took wants column "took", which the row does not have`},
		{"not a struct", reflect.TypeFor[int](), nil, "not a struct"},
		{"unsupported field type", reflect.TypeFor[struct {
			M map[string]int `db:"m"`
		}](), []string{"m"}, "field M (column \"m\"): a column value cannot fill a field of type map[string]int"},
		{"two fields, one column", reflect.TypeFor[struct {
			A int `db:"a"`
			B int `binflow:"a"`
		}](), []string{"a"}, "fields A and B both want column \"a\""},
	}
	for _, c := range bindErrs {
		_, err := Bind(c.typ, c.cols)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
	// Embedded struct fields come where the embedded struct is.
	const tagged = "created_at,deleted_at,id,small,u16,u64,flag,f32,f64,name,state,raw,amount,maybe_amount,took,note,count,any,null_str,null_int"
	if got := strings.Join(Tagged(reflect.TypeFor[everything]()), ","); got != tagged {
		t.Errorf("Tagged = %s", got)
	}
}
