package mysql_test

import (
	"context"
	"strings"
	"testing"
)

func TestCheckTableRefusesUnsafeDerivedTables(t *testing.T) {
	s := openStore(t, true)
	s.exec("CREATE TABLE by_id (id BIGINT PRIMARY KEY, v INT)")
	s.exec("CREATE TABLE by_pair (a INT, b INT, v INT, PRIMARY KEY (b, a))")
	s.exec("CREATE TABLE extra_unique (id BIGINT PRIMARY KEY, email VARCHAR(50), UNIQUE KEY email_u (email))")
	s.exec("CREATE TABLE no_key (id BIGINT, v INT)")
	s.exec("CREATE TABLE other_key (id BIGINT PRIMARY KEY, code INT)")
	cases := []struct {
		table string
		key   []string
		want  string // "" means accepted
	}{
		{"by_id", []string{"id"}, ""},
		{s.database + ".by_id", []string{"id"}, ""},
		{"by_pair", []string{"a", "b"}, ""},
		{"extra_unique", []string{"id"}, "has unique key email_u (email) besides the flow's key (id)"},
		{"no_key", []string{"id"}, "has no primary or unique key"},
		{"other_key", []string{"code"}, "has unique key PRIMARY (id) besides the flow's key (code)"},
		{"missing", []string{"id"}, "does not exist downstream"},
	}
	for _, c := range cases {
		t.Run(c.table, func(t *testing.T) {
			err := s.CheckTable(context.Background(), c.table, c.key)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
}
