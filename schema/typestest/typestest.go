// Package typestest is the fixture of binflow's tests of column types: a
// table with one column of every MySQL/MariaDB type binflow decodes, and
// rows of edge values (minimum, maximum, NULL, empty, zero dates, fractional
// seconds, emoji, latin1, INET6 and UUID), shared by the binlog reader's tests and the
// end-to-end copy test.
package typestest

import (
	"fmt"
	"strings"
)

// Column is one column of the fixture table.
type Column struct {
	Name string
	// Type is its definition upstream; Copy its definition in a downstream
	// copy (the same, except that generated columns are plain there).
	Type, Copy string
}

// Columns of the fixture table, id first.
var Columns = []Column{
	{"id", "INT NOT NULL PRIMARY KEY", ""},
	{"c_bool", "BOOL", ""},
	{"c_tinyint", "TINYINT", ""},
	{"c_smallint", "SMALLINT", ""},
	{"c_mediumint", "MEDIUMINT", ""},
	{"c_int", "INT", ""},
	{"c_bigint", "BIGINT", ""},
	{"c_utinyint", "TINYINT UNSIGNED", ""},
	{"c_usmallint", "SMALLINT UNSIGNED", ""},
	{"c_umediumint", "MEDIUMINT UNSIGNED", ""},
	{"c_uint", "INT UNSIGNED", ""},
	{"c_ubigint", "BIGINT UNSIGNED", ""},
	{"c_bit1", "BIT(1)", ""},
	{"c_bit12", "BIT(12)", ""},
	{"c_bit64", "BIT(64)", ""},
	{"c_year", "YEAR", ""},
	{"c_decimal", "DECIMAL(65,30)", ""},
	{"c_decimal0", "DECIMAL(10,0)", ""},
	{"c_float", "FLOAT", ""},
	{"c_double", "DOUBLE", ""},
	{"c_char", "CHAR(10)", ""},
	{"c_varchar", "VARCHAR(100)", ""},
	{"c_text", "TEXT", ""},
	{"c_longtext", "LONGTEXT", ""},
	{"c_latin1_char", "CHAR(10) CHARACTER SET latin1", ""},
	{"c_latin1_varchar", "VARCHAR(50) CHARACTER SET latin1", ""},
	{"c_latin1_text", "TEXT CHARACTER SET latin1", ""},
	{"c_binary", "BINARY(8)", ""},
	{"c_varbinary", "VARBINARY(16)", ""},
	{"c_blob", "BLOB", ""},
	{"c_date", "DATE", ""},
	{"c_time", "TIME", ""},
	{"c_time2", "TIME(2)", ""},
	{"c_time6", "TIME(6)", ""},
	{"c_datetime", "DATETIME", ""},
	{"c_datetime3", "DATETIME(3)", ""},
	{"c_datetime6", "DATETIME(6)", ""},
	{"c_timestamp", "TIMESTAMP NULL DEFAULT NULL", ""},
	{"c_timestamp6", "TIMESTAMP(6) NULL DEFAULT NULL", ""},
	{"c_enum", "ENUM('a','b','café','🎉')", ""},
	{"c_set", "SET('x','y','z')", ""},
	{"c_latin1_enum", "ENUM('a','café') CHARACTER SET latin1", ""},
	{"c_json", "JSON", ""},
	{"c_virtual", "BIGINT AS (c_int + 1) VIRTUAL", "BIGINT"},
	{"c_stored", "VARCHAR(110) AS (CONCAT(c_varchar, '!')) STORED", "VARCHAR(110)"},
	// MariaDB's INET6 and UUID: logged as BINARY(16), read as text.
	{"c_inet6", "INET6", ""},
	{"c_uuid", "UUID", ""},
}

// Names lists the column names, in order.
func Names() []string {
	names := make([]string, len(Columns))
	for i, c := range Columns {
		names[i] = c.Name
	}
	return names
}

// Inserted lists the columns an INSERT sets (all but generated ones).
func Inserted() []string {
	var names []string
	for _, c := range Columns {
		if c.Copy == "" {
			names = append(names, c.Name)
		}
	}
	return names
}

// CreateTable is the upstream table's DDL; CreateCopy the downstream copy's.
func CreateTable(table string) string { return create(table, false) }

// CreateCopy is the DDL of a downstream table that can hold a copy.
func CreateCopy(table string) string { return create(table, true) }

func create(table string, copy bool) string {
	defs := make([]string, len(Columns))
	for i, c := range Columns {
		t := c.Type
		if copy && c.Copy != "" {
			t = c.Copy
		}
		defs[i] = "`" + c.Name + "` " + t
	}
	return fmt.Sprintf("CREATE TABLE %s (\n  %s\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", table, strings.Join(defs, ",\n  "))
}

// SessionSQL prepares the session the rows are written in: UTC, and a
// permissive sql_mode so that zero and partial dates are accepted.
var SessionSQL = []string{"SET time_zone = '+00:00'", "SET sql_mode = ''"}

// Rows are the values of Inserted, one SQL tuple per row (ids 1..6).
var Rows = []string{
	// Minimums, and empty strings.
	`(1, 0, -128, -32768, -8388608, -2147483648, -9223372036854775808, 0, 0, 0, 0, 0, b'0', b'0', b'0', 1901,
	 '-99999999999999999999999999999999999.999999999999999999999999999999', -9999999999, -3.40282e38, -1.7976931348623157e308,
	 '', '', '', '', '', '', '', '', '', '',
	 '1000-01-01', '-838:59:59', '-838:59:59.99', '-838:59:59.000000', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000',
	 '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01', '1970-01-01 00:00:01.000000', 'a', '', 'a', '[]',
	 '::', '00000000-0000-0000-0000-000000000000')`,
	// Maximums, emoji, latin1, bytes with trailing zeros.
	`(2, 1, 127, 32767, 8388607, 2147483647, 9223372036854775807, 255, 65535, 16777215, 4294967295, 18446744073709551615,
	 b'1', b'111111111111', b'1111111111111111111111111111111111111111111111111111111111111111', 2155,
	 '99999999999999999999999999999999999.999999999999999999999999999999', 9999999999, 3.40282e38, 1.7976931348623157e308,
	 '🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉', 'héllo 🎉 wörld 𝄞 ✓', 'text 🎉', REPEAT('long 🎉 ', 2000), 'café', 'café € ÿ', 'naïve café Œuvre',
	 x'0102030000000000', x'00FF00', x'000102FF00',
	 '9999-12-31', '838:59:59', '838:59:59.99', '838:59:59.000000', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999',
	 '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', '🎉', 'x,y,z', 'café',
	 '{"k": "v 🎉", "n": [1, 2.5, null, true, false], "o": {}, "s": "a\\"b"}',
	 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffffffff-ffff-ffff-ffff-ffffffffffff')`,
	// NULL in every column.
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL)`,
	// Zero dates (a permissive sql_mode), YEAR 0000, zero times.
	`(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', b'0', 0, 0, 0, 0, 0, 'zero', 'zero', 'zero', 'zero', 'zero', 'zero', 'zero',
	 x'00', x'00', x'00', '0000-00-00', '00:00:00', '00:00:00.00', '00:00:00.000000', '0000-00-00 00:00:00',
	 '0000-00-00 00:00:00.000', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
	 'b', 'y', 'café', 'null', '::ffff:1.2.3.4', '123e4567-e89b-12d3-a456-426655440000')`,
	// Fractions, values before 1970, trailing spaces, middling values.
	`(5, 1, -1, 1, -1, 1, -1, 1, 1, 1, 1, 9223372036854775808, b'1', b'101010101010', b'1000000000000000000000000000000000000000000000000000000000000001', 2000,
	 '0.000000000000000000000000000001', 1, 0.1, 0.1, 'ab  ', 'trailing  ', ' lead', '', 'é', 'É', 'x',
	 x'61', x'6100', x'',
	 '1969-12-31', '-00:00:01', '-00:00:00.50', '123:45:06.789012', '1969-12-31 23:59:59', '2024-02-29 12:34:56.789',
	 '1969-12-31 23:59:59.999999', '2024-02-29 12:34:56', '2024-02-29 12:34:56.000001', 'café', 'x,z', 'a', '"str"',
	 '2001:db8:0:1:1:1:1:1', '6ccd780c-baba-1026-9564-5b8c656024db')`,
	// Partial dates: zero month or day, which no time.Time can hold.
	`(6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-00-10', NULL, NULL, NULL, '2024-05-00 10:00:00',
	 '2024-00-00 00:00:00.500', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '::1.2.3.4', NULL)`,
}

// PartialDateRow is the id of the row with partial dates, which
// go-sql-driver/mysql cannot read with parseTime=true.
const PartialDateRow = 6

// Insert is the statement that writes Rows into table.
func Insert(table string) string {
	cols := Inserted()
	for i, c := range cols {
		cols[i] = "`" + c + "`"
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES\n%s", table, strings.Join(cols, ", "), strings.Join(Rows, ",\n"))
}
