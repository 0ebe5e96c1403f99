package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder copies the generic tree that the TOML parser produced into the
// Config structs. The toml package can do that too, but it stops at the first
// wrong type and names keys without array indices ("flows.functions.colums");
// walking the tree ourselves names every bad key exactly
// ("flows[1].functions[0].colums") and reports all of them at once.
type decoder struct {
	p *problems
	// defined holds every key the file sets, so that defaults apply only to
	// keys the user left out (an explicit 0 is an error, not a default).
	defined map[string]bool
	// bad holds keys whose values could not be decoded; validation problems
	// about them (or anything under them) would only repeat the same mistake.
	bad []string
}

var durationType = reflect.TypeOf(Duration{})

// decode stores raw into v, which is addressable; key names raw in messages.
func (d *decoder) decode(key string, raw any, v reflect.Value) {
	d.defined[key] = true
	if v.Type() == durationType {
		d.decodeDuration(key, raw, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(key, raw, v)
	case reflect.Slice:
		d.decodeSlice(key, raw, v)
	case reflect.Map:
		d.decodeMap(key, raw, v)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.wrongType(key, "a string", raw)
			return
		}
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			d.wrongType(key, "an integer", raw)
			return
		}
		v.SetInt(n)
	case reflect.Uint32:
		n, ok := raw.(int64)
		if !ok {
			d.wrongType(key, "an integer", raw)
			return
		}
		if n < 0 || n > math.MaxUint32 {
			d.fail(key, "must be an integer from 1 to %d, got %d", uint64(math.MaxUint32), n)
			return
		}
		v.SetUint(uint64(n))
	default:
		// Only reachable if someone adds a field of a new Go type to Config.
		d.fail(key, "config field of Go type %s cannot be decoded; this is a bug in binflow", v.Type())
	}
}

func (d *decoder) decodeDuration(key string, raw any, v reflect.Value) {
	s, ok := raw.(string)
	if !ok {
		d.wrongType(key, `a duration string such as "200ms" or "5s"`, raw)
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(key, `must be a duration such as "200ms" or "5s", got %q`, s)
		return
	}
	v.Set(reflect.ValueOf(Duration{dur}))
}

func (d *decoder) decodeStruct(key string, raw any, v reflect.Value) {
	table, ok := raw.(map[string]any)
	if !ok {
		d.wrongType(key, "a table", raw)
		return
	}
	fields := tomlFields(v.Type())
	for _, name := range sortedKeys(table) {
		child := joinKey(key, name)
		index, known := fields[name]
		if !known {
			problem := "unknown key"
			if near := nearest(name, fields); near != "" {
				problem += fmt.Sprintf("; did you mean %q?", near)
			}
			d.fail(child, "%s", problem)
			continue
		}
		d.decode(child, table[name], v.Field(index))
	}
}

func (d *decoder) decodeSlice(key string, raw any, v reflect.Value) {
	var items []any
	switch list := raw.(type) {
	case []any:
		items = list
	case []map[string]any: // an array of tables: [[flows]]
		items = make([]any, len(list))
		for i := range list {
			items[i] = list[i]
		}
	default:
		d.wrongType(key, "an array", raw)
		return
	}
	slice := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.decode(fmt.Sprintf("%s[%d]", key, i), item, slice.Index(i))
	}
	v.Set(slice)
}

func (d *decoder) decodeMap(key string, raw any, v reflect.Value) {
	table, ok := raw.(map[string]any)
	if !ok {
		d.wrongType(key, "a table", raw)
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(table))
	for _, name := range sortedKeys(table) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(joinKey(key, name), table[name], elem)
		m.SetMapIndex(reflect.ValueOf(name), elem)
	}
	v.Set(m)
}

func (d *decoder) fail(key, format string, args ...any) {
	d.p.add(key, format, args...)
	d.bad = append(d.bad, key)
}

func (d *decoder) wrongType(key, want string, raw any) {
	d.fail(key, "must be %s, got %s", want, describe(raw, isSecretKey(key)))
}

// covers reports whether a problem about key only repeats a decoding problem
// already reported for key or for a table or array holding it.
func (d *decoder) covers(key string) bool {
	for _, bad := range d.bad {
		if key == bad || strings.HasPrefix(key, bad+".") || strings.HasPrefix(key, bad+"[") {
			return true
		}
	}
	return false
}

// isSecretKey reports whether the value at key must never be shown.
func isSecretKey(key string) bool {
	return key == "password" || strings.HasSuffix(key, ".password")
}

// describe names the TOML type of raw, with its value unless secret.
func describe(raw any, secret bool) string {
	var kind, value string
	switch x := raw.(type) {
	case string:
		kind, value = "string", strconv.Quote(x)
	case int64:
		kind, value = "integer", strconv.FormatInt(x, 10)
	case float64:
		kind, value = "float", strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		kind, value = "boolean", strconv.FormatBool(x)
	case time.Time:
		kind = "datetime"
	case []any, []map[string]any:
		kind = "array"
	case map[string]any:
		kind = "table"
	default:
		kind = fmt.Sprintf("%T", raw)
	}
	if value == "" || secret {
		return kind
	}
	return kind + " " + value
}

// tomlFields maps each TOML key of struct type t to its field index.
func tomlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = i
	}
	return fields
}

// joinKey appends name to a dotted key path, quoting it the way TOML would
// when it is not a bare key.
func joinKey(parent, name string) string {
	if !isBareKey(name) {
		name = strconv.Quote(name)
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nearest returns the known key closest to name when it is close enough to be
// a likely typo, else "".
func nearest(name string, known map[string]int) string {
	best, bestDist := "", 3
	for k := range known {
		dist := editDistance(name, k)
		if dist < bestDist || dist == bestDist && k < best {
			best, bestDist = k, dist
		}
	}
	if bestDist > 2 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes; a long
// name is capped so that a hostile file cannot make this quadratic in its size.
func editDistance(a, b string) int {
	const limit = 64
	if len(a) > limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
