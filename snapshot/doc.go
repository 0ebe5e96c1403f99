// Package snapshot reads what upstream tables already hold, for a flow's
// initial snapshot, `binflow rebuild`, `binflow verify` and lookups.
//
// It owns:
//   - the consistent read view and the binlog position it reflects: on
//     MariaDB, START TRANSACTION WITH CONSISTENT SNAPSHOT followed by
//     SHOW STATUS LIKE 'binlog_snapshot_%' gives exactly the binlog
//     position of the view, with no lock and only the SELECT privilege;
//   - table metadata (columns, types, primary key) and size estimates
//     (information_schema);
//   - reading a table in primary-key chunks by keyset pagination
//     (WHERE pk > last ORDER BY pk LIMIT n), decoded into the same typed
//     values the binlog reader produces (package schema), so that a
//     function sees a row read from the table and the same row read from
//     the binlog identically;
//   - encoding primary keys for resumable progress, and comparing them in
//     the server's order (collations included);
//   - streaming a bounded range of binlog (StreamUntil), for catching up a
//     resumed snapshot;
//   - reading single rows by the values of some columns (Lookup), typed
//     the same way, for lookup functions.
//
// It must not take locks (no FLUSH TABLES WITH READ LOCK, no LOCK TABLES),
// write to the upstream, or know about flows, functions or downstream
// stores: the flow engine decides what the rows become and where progress
// is recorded.
package snapshot
