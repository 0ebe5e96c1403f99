package snapshot

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binflow/binflow/schema"
)

// ciCompare orders one-column string keys case-insensitively, as a _ci
// collation does ("a" and "A" are the same key), counting its calls.
type ciCompare struct{ calls int }

func (c *ciCompare) compare(a, b []any) (int, error) {
	c.calls++
	return strings.Compare(strings.ToLower(a[0].(string)), strings.ToLower(b[0].(string))), nil
}

func keyOfFirst(row []any) []any { return row[:1] }

func row(k string, v int) []any { return []any{k, v} }

func TestMergeWindow(t *testing.T) {
	read := [][]any{row("b", 1), row("d", 2), row("f", 3), row("h", 4)}
	tests := []struct {
		name   string
		images []Image
		want   [][]any
	}{
		{"no images: the rows read", nil, read},
		{"an update replaces the row read", []Image{{[]any{"d"}, row("d", 20)}},
			[][]any{row("b", 1), row("d", 20), row("f", 3), row("h", 4)}},
		{"a delete removes it", []Image{{[]any{"f"}, nil}},
			[][]any{row("b", 1), row("d", 2), row("h", 4)}},
		{"an insert not read is added in key order", []Image{{[]any{"a"}, row("a", 0)}, {[]any{"e"}, row("e", 5)}, {[]any{"z"}, row("z", 9)}},
			[][]any{row("a", 0), row("b", 1), row("d", 2), row("e", 5), row("f", 3), row("h", 4), row("z", 9)}},
		{"the last image wins: deleted, then inserted again", []Image{{[]any{"b"}, nil}, {[]any{"b"}, row("b", 7)}},
			[][]any{row("b", 7), row("d", 2), row("f", 3), row("h", 4)}},
		{"the last image wins: updated, then deleted", []Image{{[]any{"h"}, row("h", 8)}, {[]any{"h"}, nil}},
			[][]any{row("b", 1), row("d", 2), row("f", 3)}},
		{"inserted and deleted meanwhile, never read: absent", []Image{{[]any{"c"}, row("c", 1)}, {[]any{"c"}, nil}},
			read},
		{"a key moved: the before image deletes, the after image inserts", []Image{{[]any{"d"}, nil}, {[]any{"g"}, row("g", 2)}},
			[][]any{row("b", 1), row("f", 3), row("g", 2), row("h", 4)}},
		{"keys equal under the collation are one row", []Image{{[]any{"F"}, row("F", 30)}, {[]any{"b"}, row("b", 10)}, {[]any{"B"}, nil}},
			[][]any{row("d", 2), row("F", 30), row("h", 4)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &ciCompare{}
			got, err := MergeWindow(read, keyOfFirst, tt.images, c.compare)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MergeWindow = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("compare errors are returned", func(t *testing.T) {
		boom := errors.New("collation lookup failed")
		_, err := MergeWindow(read, keyOfFirst, []Image{{[]any{"x"}, nil}}, func(a, b []any) (int, error) { return 0, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want %v", err, boom)
		}
	})
	t.Run("compares are few", func(t *testing.T) {
		// Images are searched in the rows read: a few compares per image,
		// none per row read (a collation's compare may ask the server).
		var many [][]any
		for i := range 1000 {
			many = append(many, row(fmt.Sprintf("k%05d", i), i))
		}
		c := &ciCompare{}
		if _, err := MergeWindow(many, keyOfFirst, []Image{{[]any{"k00500"}, nil}, {[]any{"k00001"}, nil}}, c.compare); err != nil {
			t.Fatal(err)
		}
		if c.calls > 40 {
			t.Errorf("%d compares for 1000 rows and 2 images", c.calls)
		}
	})
}

// fakeMySQL is a MySQL server's GTID state: gtid_executed catches up with
// the binlog (the storage engine commits after the binlog is written).
type fakeMySQL struct {
	mu       sync.Mutex
	mode     string
	done     map[string]bool // GTIDs in gtid_executed
	asked    int
	commitAt int               // after this many executed() calls, commit pending
	pending  []string          // binlogged, not yet committed
	end      schema.Position   // SHOW MASTER STATUS
	previous map[string]string // Previous_gtids per file
	failWith error             // from executed()
}

func (f *fakeMySQL) gtidMode(context.Context) (string, error) { return f.mode, nil }

func (f *fakeMySQL) executed(_ context.Context, set string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return false, f.failWith
	}
	f.asked++
	if f.asked >= f.commitAt {
		for _, g := range f.pending {
			f.done[g] = true
		}
		f.pending = nil
	}
	for _, g := range strings.Split(set, ",") {
		if g != "" && !f.done[g] {
			return false, nil
		}
	}
	return true, nil
}

func (f *fakeMySQL) binlogEnd(context.Context) (schema.Position, error) { return f.end, nil }

func (f *fakeMySQL) previousGTIDs(_ context.Context, file string) (string, error) {
	s, ok := f.previous[file]
	if !ok {
		return "", fmt.Errorf("no file %s", file)
	}
	return s, nil
}

func TestMySQLWindowGate(t *testing.T) {
	ctx := context.Background()
	t.Run("waits for the engine commit of the position's transactions", func(t *testing.T) {
		f := &fakeMySQL{mode: "ON", done: map[string]bool{"u:1": true}, pending: []string{"u:2", "u:3"}, commitAt: 4}
		if err := waitExecuted(ctx, f, "u:1,u:2,u:3", time.Microsecond, time.Second); err != nil {
			t.Fatal(err)
		}
		if f.asked != 4 {
			t.Errorf("asked %d times, want 4 (until the pending transactions committed)", f.asked)
		}
	})
	t.Run("returns at once when everything is committed", func(t *testing.T) {
		f := &fakeMySQL{mode: "ON", done: map[string]bool{"u:1": true, "u:2": true}, commitAt: 1 << 30}
		if err := waitExecuted(ctx, f, "u:1,u:2", time.Hour, time.Second); err != nil {
			t.Fatal(err)
		}
		if f.asked != 1 {
			t.Errorf("asked %d times, want 1", f.asked)
		}
	})
	t.Run("times out", func(t *testing.T) {
		f := &fakeMySQL{mode: "ON", done: map[string]bool{}, pending: []string{"u:1"}, commitAt: 1 << 30}
		err := waitExecuted(ctx, f, "u:1", time.Millisecond, 20*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), `did not include "u:1"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("refuses without GTIDs", func(t *testing.T) {
		for _, mode := range []string{"OFF", "OFF_PERMISSIVE", "ON_PERMISSIVE"} {
			f := &fakeMySQL{mode: mode, done: map[string]bool{}}
			err := waitExecuted(ctx, f, "", time.Millisecond, time.Second)
			if !errors.Is(err, ErrNoGTIDs) || !strings.Contains(err.Error(), "gtid_mode is "+mode) || !strings.Contains(err.Error(), `upstream.start = "current"`) {
				t.Errorf("gtid_mode %s: err = %v", mode, err)
			}
			if _, _, err := mysqlWindowStart(ctx, f); !errors.Is(err, ErrNoGTIDs) {
				t.Errorf("gtid_mode %s: start: err = %v", mode, err)
			}
			if f.asked != 0 {
				t.Errorf("gtid_mode %s: gtid_executed asked", mode)
			}
		}
	})
	t.Run("server errors are returned", func(t *testing.T) {
		boom := errors.New("connection refused")
		f := &fakeMySQL{mode: "ON", failWith: boom}
		if err := waitExecuted(ctx, f, "u:1", time.Millisecond, time.Second); !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("starts at the current binlog file with its Previous_gtids", func(t *testing.T) {
		f := &fakeMySQL{mode: "ON", end: schema.Position{File: "binlog.000007", Pos: 91234},
			previous: map[string]string{"binlog.000007": "u:1-40,v:1-3"}}
		pos, set, err := mysqlWindowStart(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := (schema.Position{File: "binlog.000007", Pos: 4}); pos != want || set != "u:1-40,v:1-3" {
			t.Errorf("start = %s %q, want %s %q", pos, set, want, "u:1-40,v:1-3")
		}
	})
}

// MergeWindow agrees with the obvious computation (a map of the rows read,
// each image applied in binlog order, sorted) on random windows.
func TestMergeWindowRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	intCompare := func(a, b []any) (int, error) { return cmpInt(a[0].(int), b[0].(int)), nil }
	for round := range 2000 {
		state := map[int][]any{}
		var read [][]any
		for k := 0; k < 40; k++ {
			if rng.Intn(2) == 0 {
				r := []any{k, rng.Intn(100)}
				read = append(read, r)
				state[k] = r
			}
		}
		var images []Image
		for range rng.Intn(20) {
			k := rng.Intn(45) - 2
			im := Image{Key: []any{k}}
			if rng.Intn(3) > 0 {
				im.Row = []any{k, 100 + rng.Intn(100)}
			}
			images = append(images, im)
			if im.Row == nil {
				delete(state, k)
			} else {
				state[k] = im.Row
			}
		}
		var want [][]any
		for k := -2; k < 45; k++ {
			if r, ok := state[k]; ok {
				want = append(want, r)
			}
		}
		got, err := MergeWindow(read, keyOfFirst, images, intCompare)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("round %d: read %v, images %v:\nMergeWindow = %v\nwant          %v", round, read, images, got, want)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
