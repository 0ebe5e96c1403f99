package mysql

import (
	"errors"
	"testing"

	"github.com/binflow/binflow/connectors/internal/stmt"
)

func TestQuoteIdent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "plain", in: "orders", want: "`orders`"},
		{name: "reserved word", in: "select", want: "`select`"},
		{name: "backtick", in: "a`b", want: "`a``b`"},
		{name: "only backticks", in: "``", want: "``````"},
		{name: "leading and trailing backtick", in: "`x`", want: "```x```"},
		{name: "injection", in: "x`; DROP TABLE y; --", want: "`x``; DROP TABLE y; --`"},
		{name: "spaces", in: "order items", want: "`order items`"},
		{name: "unicode", in: "Bestellungen_ü_😀", want: "`Bestellungen_ü_😀`"},
		{name: "quotes", in: `it's "quoted"`, want: "`it's \"quoted\"`"},
		{name: "backslash", in: `a\b`, want: "`a\\b`"},
		{name: "dot stays inside", in: "db.table", want: "`db.table`"},
		{name: "empty", in: "", wantErr: stmt.ErrEmptyIdent},
		{name: "NUL", in: "a\x00b", wantErr: stmt.ErrNULIdent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QuoteIdent(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("QuoteIdent(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("QuoteIdent(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("QuoteIdent(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuoteTable(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "bare", in: "orders", want: "`orders`"},
		{name: "qualified", in: "shop.orders", want: "`shop`.`orders`"},
		{name: "split at first dot", in: "shop.orders.2024", want: "`shop`.`orders.2024`"},
		{name: "hostile table", in: "we`ird; DROP TABLE x", want: "`we``ird; DROP TABLE x`"},
		{name: "hostile both", in: "d`b.t`; --", want: "`d``b`.`t``; --`"},
		{name: "empty", in: "", wantErr: stmt.ErrEmptyIdent},
		{name: "empty database", in: ".orders", wantErr: stmt.ErrEmptyIdent},
		{name: "empty table", in: "shop.", wantErr: stmt.ErrEmptyIdent},
		{name: "NUL in table", in: "shop.or\x00ders", wantErr: stmt.ErrNULIdent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := quoteTable(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("quoteTable(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("quoteTable(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("quoteTable(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
