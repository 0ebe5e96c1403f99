package schema

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"
)

// StructBinding maps named columns onto the fields of a struct type, by the
// field tags `binflow:"col"` or `db:"col"` (binflow wins; "-" skips a field;
// fields of embedded structs count as the outer struct's).
//
// Build it once per (columns, type) and reuse it for every row: Bind checks
// every field's type and plans, per field, its memory offset and a setter
// for its kind, so Decode does no reflection and allocates nothing beyond
// the values of pointer and []byte fields. Table.Binding caches bindings per
// table schema.
//
// A field takes the values of the documented column types (see Row) that
// fit it without loss, and nil as its zero value (nil pointer for pointer
// fields):
//
//	int, int8 .. int64      int64, uint64 (range checked)
//	uint, uint8 .. uint64   uint64, int64 (range checked, no negatives)
//	bool                    int64, uint64 (BOOL, BIT(1)): non-zero is true
//	float32, float64        float32, float64, decimal.Decimal
//	string                  string, []byte, decimal.Decimal (its text)
//	[]byte                  []byte, string (copied)
//	decimal.Decimal         decimal.Decimal, int64, uint64
//	decimal.NullDecimal     as decimal.Decimal; nil is not Valid
//	time.Time               time.Time
//	time.Duration           string of a TIME column ("-838:59:59.5")
//	*T                      as T, in a new T
//	any                     the value as it is
//	sql.Scanner (sql.NullString, ...)   whatever its Scan accepts
//
// Named types (type Status string) follow their kind.
type StructBinding struct {
	typ    reflect.Type
	ptr    reflect.Type // *typ: Decode checks its destination against it
	fields []boundField
	maxCol int
}

type boundField struct {
	col    int
	column string
	field  string // Go field, dotted through embedded structs
	typ    reflect.Type
	offset uintptr
	set    setter
	get    getter
}

// setter stores a typed value into the field at p; getter reads it back as
// a typed value.
type (
	setter func(p unsafe.Pointer, v any) error
	getter func(p unsafe.Pointer) any
)

// FieldError reports a value that does not fit its struct field.
type FieldError struct {
	Column string
	Field  string
	Type   reflect.Type // the field's type
	Value  any
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("column %s (%T) into field %s (%s): %v", e.Column, e.Value, e.Field, e.Type, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// taggedField is a tagged field found in a struct type.
type taggedField struct {
	column string
	path   string
	offset uintptr
	typ    reflect.Type
}

// tagged walks the tagged fields of t, in field order, descending into
// embedded structs that carry no tag of their own.
func tagged(t reflect.Type, prefix string, base uintptr, out []taggedField) []taggedField {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("binflow") == "" && f.Tag.Get("db") == "" &&
			!isValueStruct(f.Type) {
			out = tagged(f.Type, prefix+f.Name+".", base+f.Offset, out)
			continue
		}
		if n := tagName(f); n != "" {
			out = append(out, taggedField{column: n, path: prefix + f.Name, offset: base + f.Offset, typ: f.Type})
		}
	}
	return out
}

// Tagged lists the column names a struct type's fields are tagged with, in
// field order.
func Tagged(t reflect.Type) []string {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for _, f := range tagged(t, "", 0, nil) {
		names = append(names, f.column)
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
	if i := strings.IndexByte(n, ','); i >= 0 {
		n = n[:i] // options such as `db:"col,omitempty"` are not binflow's
	}
	if n == "-" {
		return ""
	}
	return n
}

// Bind plans how rows with the given column names fill struct type t. Every
// tagged field must have a column, no column may feed two fields, and every
// field's type must be one a column value can fill.
func Bind(t reflect.Type, columns []string) (*StructBinding, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("bind %v: not a struct type", t)
	}
	index := make(map[string]int, len(columns))
	for i, c := range columns {
		if _, dup := index[c]; !dup {
			index[c] = i
		}
	}
	b := &StructBinding{typ: t, ptr: reflect.PointerTo(t), maxCol: -1}
	byColumn := map[string]string{}
	for _, f := range tagged(t, "", 0, nil) {
		if other, dup := byColumn[f.column]; dup {
			return nil, fmt.Errorf("bind %s: fields %s and %s both want column %q", t, other, f.path, f.column)
		}
		byColumn[f.column] = f.path
		col, ok := index[f.column]
		if !ok {
			return nil, fmt.Errorf("bind %s: field %s wants column %q, which the row does not have (it has %s)", t, f.path, f.column, strings.Join(columns, ", "))
		}
		set, get, err := accessors(f.typ)
		if err != nil {
			return nil, fmt.Errorf("bind %s: field %s (column %q): %w", t, f.path, f.column, err)
		}
		b.fields = append(b.fields, boundField{col: col, column: f.column, field: f.path, typ: f.typ, offset: f.offset, set: set, get: get})
		b.maxCol = max(b.maxCol, col)
	}
	return b, nil
}

// Type is the struct type bound.
func (b *StructBinding) Type() reflect.Type { return b.typ }

// Decode fills *dst (a pointer to the bound struct type) from a row. On an
// error the fields before the failing one are already set.
func (b *StructBinding) Decode(row []any, dst any) error {
	if reflect.TypeOf(dst) != b.ptr {
		return fmt.Errorf("decode into %T: want *%s", dst, b.typ)
	}
	if len(row) <= b.maxCol {
		return fmt.Errorf("decode into *%s: row has %d values, the binding reads column %d", b.typ, len(row), b.maxCol)
	}
	base := reflect.ValueOf(dst).UnsafePointer()
	if base == nil {
		return fmt.Errorf("decode into a nil *%s", b.typ)
	}
	for i := range b.fields {
		f := &b.fields[i]
		if err := f.set(unsafe.Add(base, f.offset), row[f.col]); err != nil {
			return &FieldError{Column: f.column, Field: f.field, Type: f.typ, Value: row[f.col], Err: err}
		}
	}
	return nil
}

// Encode reads the bound fields of src (a pointer to the struct) into a row
// of len(columns), in column order, as the typed values rows carry (signed
// integers as int64, unsigned as uint64, time.Duration as TIME text, nil
// for nil pointers, driver.Valuer fields by their Value).
func (b *StructBinding) Encode(src any, row []any) {
	base := reflect.ValueOf(src).UnsafePointer()
	for i := range b.fields {
		f := &b.fields[i]
		row[f.col] = f.get(unsafe.Add(base, f.offset))
	}
}

var (
	decimalType     = reflect.TypeFor[decimal.Decimal]()
	nullDecimalType = reflect.TypeFor[decimal.NullDecimal]()
	timeType        = reflect.TypeFor[time.Time]()
	durationType    = reflect.TypeFor[time.Duration]()
	scannerType     = reflect.TypeFor[sql.Scanner]()
	valuerType      = reflect.TypeFor[driver.Valuer]()
)

// isValueStruct tells struct types that hold one value (time, decimal,
// scanners) from structs whose fields are columns.
func isValueStruct(t reflect.Type) bool {
	return t == timeType || t == decimalType || t == nullDecimalType || reflect.PointerTo(t).Implements(scannerType)
}

// accessors plans the setter and getter of a field type, once per binding.
func accessors(ft reflect.Type) (setter, getter, error) {
	switch ft {
	case timeType:
		return setTime, func(p unsafe.Pointer) any { return *(*time.Time)(p) }, nil
	case decimalType:
		return setDecimal, func(p unsafe.Pointer) any { return *(*decimal.Decimal)(p) }, nil
	case nullDecimalType:
		return setNullDecimal, getNullDecimal, nil
	case durationType:
		return setDuration, func(p unsafe.Pointer) any { return FormatTime(*(*time.Duration)(p)) }, nil
	}
	if reflect.PointerTo(ft).Implements(scannerType) {
		return scanSetter(ft), valueGetter(ft), nil
	}
	switch ft.Kind() {
	case reflect.Bool:
		return setBool, func(p unsafe.Pointer) any { return *(*bool)(p) }, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intSetter(ft), intGetter(ft), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintSetter(ft), uintGetter(ft), nil
	case reflect.Float32:
		return setFloat32, func(p unsafe.Pointer) any { return *(*float32)(p) }, nil
	case reflect.Float64:
		return setFloat64, func(p unsafe.Pointer) any { return *(*float64)(p) }, nil
	case reflect.String:
		return setString, func(p unsafe.Pointer) any { return *(*string)(p) }, nil
	case reflect.Slice:
		if ft.Elem().Kind() == reflect.Uint8 {
			return setBytes, getBytes, nil
		}
	case reflect.Interface:
		if ft.NumMethod() == 0 {
			return func(p unsafe.Pointer, v any) error { *(*any)(p) = v; return nil },
				func(p unsafe.Pointer) any { return *(*any)(p) }, nil
		}
		return ifaceSetter(ft), func(p unsafe.Pointer) any { return reflect.NewAt(ft, p).Elem().Interface() }, nil
	case reflect.Pointer:
		elem := ft.Elem()
		if elem.Kind() == reflect.Pointer {
			break
		}
		set, get, err := accessors(elem)
		if err != nil {
			return nil, nil, err
		}
		return ptrSetter(elem, set), func(p unsafe.Pointer) any {
			if q := *(*unsafe.Pointer)(p); q != nil {
				return get(q)
			}
			return nil
		}, nil
	}
	return nil, nil, fmt.Errorf("a column value cannot fill a field of type %s", ft)
}

func mismatch(v any, into string) error {
	return fmt.Errorf("cannot store a %T in %s", v, into)
}

func setTime(p unsafe.Pointer, v any) error {
	switch x := v.(type) {
	case time.Time:
		*(*time.Time)(p) = x
	case nil:
		*(*time.Time)(p) = time.Time{}
	default:
		if s, ok := v.(string); ok {
			return fmt.Errorf("%q is a date without a time.Time (zero month or day); use a string field", s)
		}
		return mismatch(v, "time.Time")
	}
	return nil
}

func toDecimal(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, true
	case int64:
		return decimal.NewFromInt(x), true
	case uint64:
		return decimal.NewFromUint64(x), true
	}
	return decimal.Decimal{}, false
}

func setDecimal(p unsafe.Pointer, v any) error {
	if v == nil {
		*(*decimal.Decimal)(p) = decimal.Decimal{}
		return nil
	}
	d, ok := toDecimal(v)
	if !ok {
		return mismatch(v, "decimal.Decimal")
	}
	*(*decimal.Decimal)(p) = d
	return nil
}

func setNullDecimal(p unsafe.Pointer, v any) error {
	if v == nil {
		*(*decimal.NullDecimal)(p) = decimal.NullDecimal{}
		return nil
	}
	d, ok := toDecimal(v)
	if !ok {
		return mismatch(v, "decimal.NullDecimal")
	}
	*(*decimal.NullDecimal)(p) = decimal.NullDecimal{Decimal: d, Valid: true}
	return nil
}

func getNullDecimal(p unsafe.Pointer) any {
	if d := (*decimal.NullDecimal)(p); d.Valid {
		return d.Decimal
	}
	return nil
}

func setDuration(p unsafe.Pointer, v any) error {
	switch x := v.(type) {
	case nil:
		*(*time.Duration)(p) = 0
	case string:
		d, err := ParseTime(x)
		if err != nil {
			return err
		}
		*(*time.Duration)(p) = d
	default:
		return mismatch(v, "time.Duration (it takes TIME columns)")
	}
	return nil
}

func setBool(p unsafe.Pointer, v any) error {
	switch x := v.(type) {
	case nil:
		*(*bool)(p) = false
	case int64:
		*(*bool)(p) = x != 0
	case uint64:
		*(*bool)(p) = x != 0
	case bool:
		*(*bool)(p) = x
	default:
		return mismatch(v, "bool")
	}
	return nil
}

// intSetter stores into a signed integer field of ft's size, range checked.
func intSetter(ft reflect.Type) setter {
	bits := ft.Size() * 8
	lo, hi := int64(math.MinInt64)>>(64-bits), int64(math.MaxInt64)>>(64-bits)
	name := ft.String()
	return func(p unsafe.Pointer, v any) error {
		var i int64
		switch x := v.(type) {
		case nil:
		case int64:
			i = x
		case uint64:
			if x > uint64(hi) {
				return fmt.Errorf("value %d overflows %s", x, name)
			}
			i = int64(x)
		default:
			return mismatch(v, name)
		}
		if i < lo || i > hi {
			return fmt.Errorf("value %d overflows %s", i, name)
		}
		switch bits {
		case 8:
			*(*int8)(p) = int8(i)
		case 16:
			*(*int16)(p) = int16(i)
		case 32:
			*(*int32)(p) = int32(i)
		default:
			*(*int64)(p) = i
		}
		return nil
	}
}

func intGetter(ft reflect.Type) getter {
	switch ft.Size() {
	case 1:
		return func(p unsafe.Pointer) any { return boxInt64(int64(*(*int8)(p))) }
	case 2:
		return func(p unsafe.Pointer) any { return boxInt64(int64(*(*int16)(p))) }
	case 4:
		return func(p unsafe.Pointer) any { return boxInt64(int64(*(*int32)(p))) }
	}
	return func(p unsafe.Pointer) any { return boxInt64(*(*int64)(p)) }
}

// uintSetter stores into an unsigned integer field of ft's size, range
// checked.
func uintSetter(ft reflect.Type) setter {
	bits := ft.Size() * 8
	hi := uint64(math.MaxUint64) >> (64 - bits)
	name := ft.String()
	return func(p unsafe.Pointer, v any) error {
		var u uint64
		switch x := v.(type) {
		case nil:
		case uint64:
			u = x
		case int64:
			if x < 0 {
				return fmt.Errorf("negative value %d into %s", x, name)
			}
			u = uint64(x)
		default:
			return mismatch(v, name)
		}
		if u > hi {
			return fmt.Errorf("value %d overflows %s", u, name)
		}
		switch bits {
		case 8:
			*(*uint8)(p) = uint8(u)
		case 16:
			*(*uint16)(p) = uint16(u)
		case 32:
			*(*uint32)(p) = uint32(u)
		default:
			*(*uint64)(p) = u
		}
		return nil
	}
}

func uintGetter(ft reflect.Type) getter {
	switch ft.Size() {
	case 1:
		return func(p unsafe.Pointer) any { return uint64(*(*uint8)(p)) }
	case 2:
		return func(p unsafe.Pointer) any { return uint64(*(*uint16)(p)) }
	case 4:
		return func(p unsafe.Pointer) any { return uint64(*(*uint32)(p)) }
	}
	return func(p unsafe.Pointer) any { return *(*uint64)(p) }
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case decimal.Decimal:
		f, _ := x.Float64()
		return f, true
	}
	return 0, false
}

func setFloat32(p unsafe.Pointer, v any) error {
	if x, ok := v.(float32); ok { // not through float64: keeps the exact float32
		*(*float32)(p) = x
		return nil
	}
	f, ok := toFloat(v)
	if !ok {
		return mismatch(v, "float32")
	}
	*(*float32)(p) = float32(f)
	return nil
}

func setFloat64(p unsafe.Pointer, v any) error {
	f, ok := toFloat(v)
	if !ok {
		return mismatch(v, "float64")
	}
	*(*float64)(p) = f
	return nil
}

func setString(p unsafe.Pointer, v any) error {
	switch x := v.(type) {
	case nil:
		*(*string)(p) = ""
	case string:
		*(*string)(p) = x
	case []byte:
		*(*string)(p) = string(x)
	case decimal.Decimal:
		*(*string)(p) = x.String()
	default:
		return mismatch(v, "string")
	}
	return nil
}

// setBytes copies: rows are shared by every flow reading the table, so a
// function changing its []byte must not change theirs.
func setBytes(p unsafe.Pointer, v any) error {
	switch x := v.(type) {
	case nil:
		*(*[]byte)(p) = nil
	case []byte:
		*(*[]byte)(p) = bytes.Clone(x)
	case string:
		*(*[]byte)(p) = []byte(x)
	default:
		return mismatch(v, "[]byte")
	}
	return nil
}

// getBytes copies too: the emitted row outlives the caller's struct.
func getBytes(p unsafe.Pointer) any {
	b := *(*[]byte)(p)
	if b == nil {
		return nil // NULL
	}
	return bytes.Clone(b)
}

func ptrSetter(elem reflect.Type, set setter) setter {
	return func(p unsafe.Pointer, v any) error {
		if v == nil {
			*(*unsafe.Pointer)(p) = nil
			return nil
		}
		q := reflect.New(elem).UnsafePointer()
		if err := set(q, v); err != nil {
			return err
		}
		*(*unsafe.Pointer)(p) = q
		return nil
	}
}

func ifaceSetter(ft reflect.Type) setter {
	return func(p unsafe.Pointer, v any) error {
		f := reflect.NewAt(ft, p).Elem()
		if v == nil {
			f.SetZero()
			return nil
		}
		rv := reflect.ValueOf(v)
		if !rv.Type().Implements(ft) {
			return mismatch(v, ft.String())
		}
		f.Set(rv)
		return nil
	}
}

func scanSetter(ft reflect.Type) setter {
	return func(p unsafe.Pointer, v any) error {
		return reflect.NewAt(ft, p).Interface().(sql.Scanner).Scan(v)
	}
}

func valueGetter(ft reflect.Type) getter {
	if !reflect.PointerTo(ft).Implements(valuerType) {
		return func(p unsafe.Pointer) any { return reflect.NewAt(ft, p).Elem().Interface() }
	}
	return func(p unsafe.Pointer) any {
		v, err := reflect.NewAt(ft, p).Interface().(driver.Valuer).Value()
		if err != nil {
			// Encode cannot fail: the error travels as a value whose Value
			// fails again, so the write of the row fails with it.
			return valuerError{err}
		}
		return v
	}
}

// valuerError carries a failed Value to where the row is written.
type valuerError struct{ err error }

func (e valuerError) Value() (driver.Value, error) { return nil, e.err }
