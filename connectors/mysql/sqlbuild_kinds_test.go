package mysql

import (
	"testing"

	"github.com/binflow/binflow/connectors"
)

func TestInsertAndRecomputeShapeSQL(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*stmtShape, error)
		rows  int
		want  string
	}{
		{"insert", func() (*stmtShape, error) { return insertShape("db.h", []string{"a", "b`"}) }, 2,
			"INSERT INTO `db`.`h` (`a`,`b```) VALUES (?,?),(?,?)"},
		{"recompute", func() (*stmtShape, error) {
			return recomputeShape("db.t", []string{"g", "h"}, []connectors.Computed{
				{Column: "lo", Func: "min", State: "db.t__v", Of: "v"},
				{Column: "d", Func: "count", State: "t__v"},
				{Column: "m", Func: "div", Num: "s", Den: "n"},
			})
		}, 2,
			"UPDATE `db`.`t` SET `lo`=(SELECT MIN(`s`.`v`) FROM `db`.`t__v` AS `s` WHERE `s`.`g`=`db`.`t`.`g` AND `s`.`h`=`db`.`t`.`h`)," +
				"`d`=(SELECT COUNT(*) FROM `t__v` AS `s` WHERE `s`.`g`=`db`.`t`.`g` AND `s`.`h`=`db`.`t`.`h`)," +
				"`m`=`s`/NULLIF(`n`,0) WHERE (`g`,`h`) IN ((?,?),(?,?))"},
		{"recompute lookup", func() (*stmtShape, error) {
			return recomputeShape("db.t", []string{"a"}, []connectors.Computed{
				{Column: "n", Func: "lookup", State: "c", Of: "name", Match: []string{"a", "b"}, StateKey: []string{"x", "y`"}},
			})
		}, 1,
			"UPDATE `db`.`t` SET `n`=(SELECT `s`.`name` FROM `c` AS `s` WHERE `s`.`x`=`db`.`t`.`a` AND `s`.`y```=`db`.`t`.`b`) WHERE `a` IN (?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.sql(tt.rows); got != tt.want {
				t.Errorf("sql =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
