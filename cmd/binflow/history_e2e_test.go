package main

import (
	"strings"
	"testing"
	"time"
)

// hostsFlow copies a table with a BINARY(16) and an INET6 column: with
// binlog_row_metadata=FULL the table map names both but does not tell them
// apart, so the schema history reads which is which from
// information_schema.
const hostsFlow = `
[[flows]]
name = "hosts_copy"
tables = ["SHOP.hosts"]
  [[flows.functions]]
  kind = "sink"
  table = "hosts_copy"
  key = ["id"]
`

// A FULL upstream, a table with a BINARY(16) and an INET6 column, an
// ALTER TABLE that adds indexes (and changes no column) while binflow is
// stopped, with rows before and after it: on restart binflow reads the
// rows before the ALTER (information_schema read after it) without
// stopping, and the copy is exact, the INET6 as text, the BINARY(16) as
// its bytes.
func TestRestartPastAddIndexOnFullTableWithBinary16(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: hostsFlow})
	hosts := "`" + e.shop + "`.hosts"
	e.exec(e.up, "CREATE TABLE "+hosts+" (id INT PRIMARY KEY, raw BINARY(16) NULL, ip INET6 NULL, note VARCHAR(20) NULL)")
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.hosts_copy (id INT PRIMARY KEY, raw BINARY(16) NULL, ip VARCHAR(39) NULL, note VARCHAR(20) NULL)")
	e.streamOnly()
	var metadata string
	if err := e.up.QueryRow("SELECT @@GLOBAL.binlog_row_metadata").Scan(&metadata); err != nil || !strings.EqualFold(metadata, "FULL") {
		t.Fatalf("binlog_row_metadata is %q (%v), want FULL", metadata, err)
	}

	p := e.start()
	e.waitCheckpoints(flowCount + 1)
	e.exec(e.up, "INSERT INTO "+hosts+" VALUES (1, UNHEX('20010DB8000000000000000000000001'), '2001:db8::1', 'one')")
	e.caughtUp(60 * time.Second)
	e.stop(p)

	// While binflow is down: rows, an ALTER of indexes and options only,
	// more rows.
	for _, q := range []string{
		"INSERT INTO " + hosts + " VALUES (2, UNHEX('00000000000000000000FFFF0A000001'), '::ffff:10.0.0.1', 'two'), (3, NULL, NULL, 'three')",
		"UPDATE " + hosts + " SET ip = 'fe80::1:2', raw = UNHEX('FE800000000000000000000000010002') WHERE id = 1",
		"ALTER TABLE " + hosts + " ADD INDEX (ip), ADD UNIQUE KEY (raw), COMMENT 'hosts'",
		"INSERT INTO " + hosts + " VALUES (4, UNHEX('00000000000000000000000000000000'), '::', 'four')",
		"UPDATE " + hosts + " SET ip = '2001:db8:0:0:1::1' WHERE id = 2",
	} {
		e.exec(e.up, q)
	}

	p = e.start()
	e.caughtUp(60 * time.Second)
	if log := p.out.String(); strings.Contains(log, "cannot tell") {
		t.Errorf("binflow stopped on the ALTER:\n%s", tail(log, 3000))
	}
	want := e.snapshot(e.up, "SELECT id, HEX(raw), CAST(ip AS CHAR), note FROM "+hosts)
	if diff := diffRows(e.snapshot(e.down, "SELECT id, HEX(raw), ip, note FROM `"+e.derived+"`.hosts_copy"), want); diff != "" {
		t.Errorf("hosts_copy differs from the upstream:\n%s", diff)
	}
	if len(want) != 4 || !strings.Contains(strings.Join(want, "\n"), "2001:db8::1:0:0:1") {
		t.Errorf("upstream rows %q: not what the test wrote", want)
	}
	e.verify()
	e.stop(p)
}
