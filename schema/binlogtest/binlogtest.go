// Package binlogtest writes binlog events (format description, table map,
// rows) as a MySQL or MariaDB server would, and parses them back with
// go-mysql, for tests that need events a running server cannot produce
// here: MySQL 8's binary JSON, table maps without column names, arbitrary
// values for fuzzing.
package binlogtest

import (
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Column is one column of a table map.
type Column struct {
	Name string
	Type byte   // as logged: ENUM and SET are MYSQL_TYPE_STRING with the real type in Meta[0]
	Meta []byte // metadata bytes as logged (none, 1 or 2 bytes, by type)
	// Unsigned marks numeric columns UNSIGNED.
	Unsigned bool
	// Collation of character, ENUM and SET columns (0: the column has none).
	Collation uint64
	Values    []string // ENUM or SET values
}

// Table is what a table map event describes.
type Table struct {
	ID      uint64
	Schema  string
	Name    string
	Columns []Column
	// NoNames leaves out the optional metadata, as MariaDB's
	// binlog_row_metadata=NO_LOG.
	NoNames bool
	// Minimal writes only signedness and column charsets, as
	// binlog_row_metadata=MINIMAL.
	Minimal bool
}

func lenenc(b []byte, n uint64) []byte { return mysql.AppendLengthEncodedInteger(b, n) }

func tlv(b []byte, typ byte, v []byte) []byte {
	b = append(b, typ)
	b = lenenc(b, uint64(len(v)))
	return append(b, v...)
}

func numeric(t byte) bool {
	switch t {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
		mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE,
		mysql.MYSQL_TYPE_YEAR:
		return true
	}
	return false
}

func (c Column) enumSet() bool {
	return c.Type == mysql.MYSQL_TYPE_STRING && len(c.Meta) > 0 &&
		(c.Meta[0] == mysql.MYSQL_TYPE_ENUM || c.Meta[0] == mysql.MYSQL_TYPE_SET)
}

// MapBody is the body of the table's TABLE_MAP_EVENT (6-byte table id).
func (t *Table) MapBody() []byte {
	b := binary.LittleEndian.AppendUint64(nil, t.ID)[:6]
	b = append(b, 1, 0) // flags
	b = append(b, byte(len(t.Schema)))
	b = append(append(b, t.Schema...), 0)
	b = append(b, byte(len(t.Name)))
	b = append(append(b, t.Name...), 0)
	b = lenenc(b, uint64(len(t.Columns)))
	var meta []byte
	for _, c := range t.Columns {
		b = append(b, c.Type)
		meta = append(meta, c.Meta...)
	}
	b = lenenc(b, uint64(len(meta)))
	b = append(b, meta...)
	for range (len(t.Columns) + 7) / 8 {
		b = append(b, 0xff) // null bitmap: every column nullable
	}
	if t.NoNames {
		return b
	}
	// Optional metadata, as binlog_row_metadata=FULL writes it.
	var signed, names, charsets, esCharsets, enums, sets []byte
	var bit byte = 0x80
	var cur byte
	n := 0
	for _, c := range t.Columns {
		names = lenenc(names, uint64(len(c.Name)))
		names = append(names, c.Name...)
		if numeric(c.Type) {
			if c.Unsigned {
				cur |= bit
			}
			n++
			if bit >>= 1; bit == 0 {
				signed, cur, bit = append(signed, cur), 0, 0x80
			}
		}
		switch {
		case c.enumSet():
			esCharsets = lenenc(esCharsets, c.Collation)
			vals := lenenc(nil, uint64(len(c.Values)))
			for _, v := range c.Values {
				vals = lenenc(vals, uint64(len(v)))
				vals = append(vals, v...)
			}
			if c.Meta[0] == mysql.MYSQL_TYPE_ENUM {
				enums = append(enums, vals...)
			} else {
				sets = append(sets, vals...)
			}
		case c.Collation != 0:
			charsets = lenenc(charsets, c.Collation)
		}
	}
	if bit != 0x80 {
		signed = append(signed, cur)
	}
	if n > 0 {
		b = tlv(b, replication.TABLE_MAP_OPT_META_SIGNEDNESS, signed)
	}
	if len(charsets) > 0 {
		b = tlv(b, replication.TABLE_MAP_OPT_META_COLUMN_CHARSET, charsets)
	}
	if t.Minimal {
		return b
	}
	b = tlv(b, replication.TABLE_MAP_OPT_META_COLUMN_NAME, names)
	if len(sets) > 0 {
		b = tlv(b, replication.TABLE_MAP_OPT_META_SET_STR_VALUE, sets)
	}
	if len(enums) > 0 {
		b = tlv(b, replication.TABLE_MAP_OPT_META_ENUM_STR_VALUE, enums)
	}
	if len(esCharsets) > 0 {
		b = tlv(b, replication.TABLE_MAP_OPT_META_ENUM_AND_SET_COLUMN_CHARSET, esCharsets)
	}
	return b
}

// RowsBody is the body of a version 2 rows event of the table: each row is
// one encoded value per column (nil for NULL); an update has before and
// after images in turn.
func (t *Table) RowsBody(update bool, rows ...[][]byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, t.ID)[:6]
	b = append(b, 0, 0) // flags
	b = append(b, 2, 0) // no extra data
	n := len(t.Columns)
	b = lenenc(b, uint64(n))
	present := make([]byte, (n+7)/8)
	for i := range n {
		present[i/8] |= 1 << (i % 8)
	}
	b = append(b, present...)
	if update {
		b = append(b, present...)
	}
	for _, r := range rows {
		nulls := make([]byte, (n+7)/8)
		for i, v := range r {
			if v == nil {
				nulls[i/8] |= 1 << (i % 8)
			}
		}
		b = append(b, nulls...)
		for _, v := range r {
			b = append(b, v...)
		}
	}
	return b
}

// Parser parses events written here with go-mysql's parser, as binflow's
// binlog reader configures it (ParseTime, UseDecimal).
type Parser struct {
	p   *replication.BinlogParser
	pos uint32
}

// NewParser starts a parser of flavor ("mysql" or "mariadb") by feeding it
// a format description event of that server.
func NewParser(flavor string) (*Parser, error) {
	p := &Parser{p: replication.NewBinlogParser(), pos: 4}
	p.p.SetFlavor(flavor)
	p.p.SetParseTime(true)
	p.p.SetUseDecimal(true)
	version := "8.0.36"
	if flavor == mysql.MariaDBFlavor {
		version = "10.11.6-MariaDB-log"
	}
	body := binary.LittleEndian.AppendUint16(nil, 4)
	v := make([]byte, 50)
	copy(v, version)
	body = append(body, v...)
	body = binary.LittleEndian.AppendUint32(body, 0)
	body = append(body, replication.EventHeaderSize)
	lengths := make([]byte, 41)
	lengths[replication.QUERY_EVENT-1] = 13
	lengths[replication.TABLE_MAP_EVENT-1] = 8
	for _, e := range []replication.EventType{replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2} {
		lengths[e-1] = 10
	}
	body = append(body, lengths...)
	body = append(body, byte(replication.BINLOG_CHECKSUM_ALG_OFF), 0, 0, 0, 0)
	if _, err := p.Parse(replication.FORMAT_DESCRIPTION_EVENT, body); err != nil {
		return nil, fmt.Errorf("format description: %w", err)
	}
	return p, nil
}

// SetRowsEventDecodeFunc replaces go-mysql's decoding of rows events, as
// binflow's binlog reader does.
func (p *Parser) SetRowsEventDecodeFunc(f func(*replication.RowsEvent, []byte) error) {
	p.p.SetRowsEventDecodeFunc(f)
}

// Parse wraps a body in an event header and parses it.
func (p *Parser) Parse(typ replication.EventType, body []byte) (*replication.BinlogEvent, error) {
	size := uint32(replication.EventHeaderSize + len(body))
	p.pos += size
	h := binary.LittleEndian.AppendUint32(nil, 1700000000)
	h = append(h, byte(typ))
	h = binary.LittleEndian.AppendUint32(h, 1)
	h = binary.LittleEndian.AppendUint32(h, size)
	h = binary.LittleEndian.AppendUint32(h, p.pos)
	h = binary.LittleEndian.AppendUint16(h, 0)
	return p.p.Parse(append(h, body...))
}

// QueryBody is the body of a QUERY_EVENT: a statement run in schema.
func QueryBody(schema, query string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 7) // thread id
	b = binary.LittleEndian.AppendUint32(b, 0)    // execution time
	b = append(b, byte(len(schema)))
	b = binary.LittleEndian.AppendUint16(b, 0) // error code
	b = binary.LittleEndian.AppendUint16(b, 0) // no status variables
	b = append(append(b, schema...), 0)
	return append(b, query...)
}
