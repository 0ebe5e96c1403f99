package schema

import "testing"

func TestMentionsTable(t *testing.T) {
	cases := []struct {
		query string
		want  bool
	}{
		{"ALTER TABLE orders ADD SYSTEM VERSIONING", true},
		{"ALTER TABLE `Orders` WAIT 1 ADD x INT", true},
		{"alter table shop.orders add x int", true},
		{"ALTER TABLE \"orders\" ADD x INT", true},
		{"ALTER TABLE `ord``ers` ADD x INT", false},
		{"ALTER TABLE orders_archive ADD x INT", false},
		{"ALTER TABLE t COMMENT 'orders live elsewhere'", false},
		{"ALTER TABLE t /* orders */ ADD x INT -- orders\n", false},
		{"ALTER TABLE t ADD x INT # orders", false},
		{"INSERT INTO t VALUES ('it''s', 'orders')", false},
		{"CREATE TABLE x (id INT, orders INT)", true}, // loose on purpose: a column of that name counts
	}
	for _, c := range cases {
		if got := MentionsTable(c.query, "shop.orders"); got != c.want {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	if !MentionsTable("RENAME TABLE `ord``ers` TO x", "shop.ord`ers") {
		t.Error("quoted name with an escaped backtick not found")
	}
}

func TestTableChangeAffects(t *testing.T) {
	cases := []struct {
		c     TableChange
		table string
		want  bool
	}{
		{TableChange{Kind: ChangeTruncate, Table: "shop.orders"}, "shop.orders", true},
		{TableChange{Kind: ChangeTruncate, Table: "shop.orders"}, "shop.order", false},
		{TableChange{Kind: ChangeRename, Table: "shop.a", To: "shop.orders"}, "shop.orders", true},
		{TableChange{Kind: ChangeDropDatabase, Table: "shop"}, "shop.orders", true},
		{TableChange{Kind: ChangeDropDatabase, Table: "sho"}, "shop.orders", false},
	}
	for _, c := range cases {
		if got := c.c.Affects(c.table); got != c.want {
			t.Errorf("%+v affects %s: %v, want %v", c.c, c.table, got, c.want)
		}
	}
}
