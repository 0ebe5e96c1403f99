package stmt

import (
	"errors"
	"strings"
	"testing"
)

func TestWriteIdentAndTable(t *testing.T) {
	tests := []struct {
		name, in string
		q        byte
		table    bool
		want     string
		wantErr  error
	}{
		{"backtick doubled", "a`b", '`', false, "`a``b`", nil},
		{"double quote doubled", `a"b"`, '"', false, `"a""b"""`, nil},
		{"other quote kept", "a`b", '"', false, "\"a`b\"", nil},
		{"empty", "", '"', false, "", ErrEmptyIdent},
		{"NUL", "a\x00b", '`', false, "", ErrNULIdent},
		{"qualified table", `s.t"x`, '"', true, `"s"."t""x"`, nil},
		{"dot in table part", "db.t.x", '`', true, "`db`.`t.x`", nil},
		{"empty qualifier", ".t", '"', true, "", ErrEmptyIdent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			var err error
			if tt.table {
				err = WriteTable(&b, tt.in, tt.q, "schema")
			} else {
				err = WriteIdent(&b, tt.in, tt.q)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || b.String() != tt.want {
				t.Fatalf("got %q, %v; want %q", b.String(), err, tt.want)
			}
		})
	}
}
