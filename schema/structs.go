package schema

import (
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/shopspring/decimal"
)

// StructBinding maps named columns onto the fields of a struct type, by the
// field tags `binflow:"col"` or `db:"col"` (binflow wins; "-" skips a field).
// Build it once per (columns, type) and reuse it for every row: the field
// plan is computed here, not per row.
type StructBinding struct {
	typ    reflect.Type
	fields []boundField
}

type boundField struct {
	col   int // index in the row
	field int // index in the struct
	name  string
}

// Tagged lists the column names a struct type's fields are tagged with, in
// field order.
func Tagged(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	n := f.Tag.Get("binflow")
	if n == "" {
		n = f.Tag.Get("db")
	}
	if n == "-" {
		return ""
	}
	return n
}

// Bind plans how rows with the given column names fill struct type t. Every
// tagged field must have a column.
func Bind(t reflect.Type, columns []string) (*StructBinding, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("bind %s: not a struct type", t)
	}
	index := make(map[string]int, len(columns))
	for i, c := range columns {
		index[c] = i
	}
	b := &StructBinding{typ: t}
	for i := 0; i < t.NumField(); i++ {
		n := tagName(t.Field(i))
		if n == "" {
			continue
		}
		col, ok := index[n]
		if !ok {
			return nil, fmt.Errorf("bind %s: field %s wants column %q, which the row does not have", t, t.Field(i).Name, n)
		}
		b.fields = append(b.fields, boundField{col: col, field: i, name: n})
	}
	return b, nil
}

// Decode fills *dst (a pointer to the bound struct type) from a row.
func (b *StructBinding) Decode(row []any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Type() != b.typ {
		return fmt.Errorf("decode into %T: want *%s", dst, b.typ)
	}
	s := v.Elem()
	for _, f := range b.fields {
		if err := assign(s.Field(f.field), row[f.col]); err != nil {
			return fmt.Errorf("column %s into field %s: %w", f.name, b.typ.Field(f.field).Name, err)
		}
	}
	return nil
}

// Encode reads the bound fields of src (a pointer to the struct) into a row
// of len(columns), in column order.
func (b *StructBinding) Encode(src any, row []any) {
	s := reflect.ValueOf(src).Elem()
	for _, f := range b.fields {
		row[f.col] = s.Field(f.field).Interface()
	}
}

var (
	decimalType = reflect.TypeOf(decimal.Decimal{})
	timeType    = reflect.TypeOf(time.Time{})
)

// assign sets field from a typed value, converting only where no
// information can be lost; anything else is an error naming both types.
func assign(field reflect.Value, v any) error {
	if v == nil {
		field.SetZero()
		return nil
	}
	if field.Kind() == reflect.Pointer {
		p := reflect.New(field.Type().Elem())
		if err := assign(p.Elem(), v); err != nil {
			return err
		}
		field.Set(p)
		return nil
	}
	switch field.Type() {
	case decimalType:
		switch x := v.(type) {
		case decimal.Decimal:
			field.Set(reflect.ValueOf(x))
		case int64:
			field.Set(reflect.ValueOf(decimal.NewFromInt(x)))
		case uint64:
			field.Set(reflect.ValueOf(decimal.NewFromUint64(x)))
		default:
			return fmt.Errorf("cannot store %T in decimal.Decimal", v)
		}
		return nil
	case timeType:
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("cannot store %T in time.Time", v)
		}
		field.Set(reflect.ValueOf(t))
		return nil
	}
	switch field.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		switch x := v.(type) {
		case int64:
			i = x
		case uint64:
			if x > math.MaxInt64 {
				return fmt.Errorf("value %d overflows %s", x, field.Type())
			}
			i = int64(x)
		default:
			return fmt.Errorf("cannot store %T in %s", v, field.Type())
		}
		if field.OverflowInt(i) {
			return fmt.Errorf("value %d overflows %s", i, field.Type())
		}
		field.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		switch x := v.(type) {
		case uint64:
			u = x
		case int64:
			if x < 0 {
				return fmt.Errorf("negative value %d into %s", x, field.Type())
			}
			u = uint64(x)
		default:
			return fmt.Errorf("cannot store %T in %s", v, field.Type())
		}
		if field.OverflowUint(u) {
			return fmt.Errorf("value %d overflows %s", u, field.Type())
		}
		field.SetUint(u)
	case reflect.Float32, reflect.Float64:
		switch x := v.(type) {
		case float64:
			field.SetFloat(x)
		case float32:
			field.SetFloat(float64(x))
		case decimal.Decimal:
			f, _ := x.Float64()
			field.SetFloat(f)
		default:
			return fmt.Errorf("cannot store %T in %s", v, field.Type())
		}
	case reflect.String:
		switch x := v.(type) {
		case string:
			field.SetString(x)
		case []byte:
			field.SetString(string(x))
		default:
			return fmt.Errorf("cannot store %T in string", v)
		}
	case reflect.Slice:
		b, ok := v.([]byte)
		if !ok || field.Type().Elem().Kind() != reflect.Uint8 {
			return fmt.Errorf("cannot store %T in %s", v, field.Type())
		}
		field.SetBytes(b)
	case reflect.Interface:
		field.Set(reflect.ValueOf(v))
	default:
		return fmt.Errorf("cannot store %T in %s", v, field.Type())
	}
	return nil
}
