// Package bench holds binflow's end-to-end benchmark (BenchmarkEndToEnd in
// e2e_test.go), run by `make bench`. It measures, over one binlog range
// written for the purpose, the four rates of design.md section 6: go-mysql
// canal with a no-op handler (the ingest ceiling), binflow's aggregate and
// copy flows (the real binary, into each downstream store: MySQL,
// PostgreSQL, SQLite), a filter → map → aggregate chain (into MySQL), and a
// native MariaDB replica (the downstream write reference); it checks every
// derived table and prints one table of rates, each flow's beside its ratio
// to the baseline measured in the same run (for the aggregates, the canal
// no-op run again just before each), and the targets.
//
// Knobs (environment):
//
//	BINFLOW_BENCH_ROWS        orders inserted (default 1000000)
//	BINFLOW_BENCH_UPDATES     single-row update transactions (default 20000)
//	BINFLOW_BENCH_BATCH_ROWS  [batch] max_rows of the binflow runs, for
//	                          experiments (default: binflow's own default)
//	BINFLOW_BENCH_STORES      the stores the flows write to, comma-separated
//	                          (default "mysql,postgres,sqlite")
//	BINFLOW_BENCH_SNAPSHOT_ROWS  rows of the snapshot benchmark (BenchmarkSnapshot
//	                          in snapshot_test.go; default 5000000): binflow's
//	                          initial snapshot into an aggregate and a copy
//	                          flow, against a full scan of the table
//	BINFLOW_BENCH_PROFILE     directory: also run each binflow flow in-process
//	                          under the CPU and heap profilers (an extra,
//	                          untimed pass after the figures)
//
// The package has no non-test code; this file only documents it.
package bench
