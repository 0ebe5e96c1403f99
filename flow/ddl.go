package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// Statements in the binlog (DDL). Row events carry their own schema, so a
// flow follows ADD, DROP, MODIFY and RENAME COLUMN by itself (a function
// that needs a column gone stops it at the next row, naming the column).
// TRUNCATE, DROP TABLE, RENAME TABLE and partition operations change a
// table's rows or name without row events: a flow reading that table stops
// there, its checkpoint just before the statement, with an error saying how
// to recover. It never goes on silently, and never guesses what a statement
// it cannot parse did.

// statementError is a flow stopped by a statement in the binlog.
type statementError struct{ err error }

func (e *statementError) Error() string { return e.err.Error() }
func (e *statementError) Unwrap() error { return e.err }

// statement checks a transaction that carries a statement against the
// flow's source tables. It runs from take, for transactions the flow has
// not committed yet.
func (r *runner) statement(txn *schema.Txn) error {
	if txn.Query == "" {
		return nil
	}
	r.log.Info().Str("query", txn.Query).Str("position", txn.End.String()).Msg("statement in binlog")
	rebuild := fmt.Sprintf("`binflow rebuild %s`", r.spec.Name)
	skip := fmt.Sprintf("`binflow reset %s --to %s --yes` goes on after the statement", r.spec.Name, txn.End)
	if txn.QueryErr != nil {
		for _, t := range r.spec.Tables {
			if schema.MentionsTable(txn.Query, t) {
				return r.stopBy(txn, t, fmt.Sprintf("binflow cannot parse it (%v) and it names the table, so binflow stops rather than guess what it did. "+
					"If it changed neither the table's rows nor its name (a column change, an index, maintenance), %s; otherwise rebuild the flow: %s", txn.QueryErr, skip, rebuild))
			}
		}
		return nil
	}
	for _, c := range txn.Changes {
		for _, t := range r.spec.Tables {
			if !c.Affects(t) {
				continue
			}
			switch c.Kind {
			case schema.ChangeTruncate, schema.ChangeRows:
				what := "removed every row of the table"
				if c.Kind == schema.ChangeRows {
					what = "removed or replaced rows of the table (partitions, tablespace)"
				}
				return r.stopBy(txn, t, fmt.Sprintf("it %s without row events, so the flow's derived tables no longer match it; rebuild them: %s", what, rebuild))
			case schema.ChangeDrop, schema.ChangeDropDatabase:
				return r.stopBy(txn, t, fmt.Sprintf("it dropped the table, so the flow has nothing left to read: remove the table from the flow's tables in the config, or recreate it and rebuild the flow: %s", rebuild))
			case schema.ChangeRename:
				from := c.Table
				if c.To != t {
					from = r.renamedOnto(txn, t)
				}
				if from != "" {
					// Another table took the name, whose rows the flow
					// never read; in a swap (RENAME TABLE t TO old, new TO
					// t) as well.
					return r.stopBy(txn, t, fmt.Sprintf("it renamed %s to %s, a table whose rows the flow never read. "+
						"If %s was a copy with the same rows (the cut-over of gh-ost or pt-online-schema-change), the derived tables still match and %s; otherwise rebuild the flow: %s",
						from, t, from, skip, rebuild))
				}
				return r.stopBy(txn, t, fmt.Sprintf("it renamed the table to %s, so the flow reads it no more (its rows did not change): put %s in the flow's tables in the config, then %s",
					c.To, c.To, skip))
			case schema.ChangeAlter:
				r.log.Warn().Str("table", t).Str("query", txn.Query).Str("position", txn.End.String()).
					Msg("source table altered: rows after this carry the new columns (a flow missing a column it uses stops at its next row); rows the statement converted in place are not read again")
			}
		}
	}
	return nil
}

// renamedOnto returns the table a statement renamed onto t, if any.
func (r *runner) renamedOnto(txn *schema.Txn, t string) string {
	for _, c := range txn.Changes {
		if c.Kind == schema.ChangeRename && c.To == t {
			return c.Table
		}
	}
	return ""
}

func (r *runner) stopBy(txn *schema.Txn, table, what string) error {
	err := &statementError{fmt.Errorf("flow %s: table %s: statement %.300q at binlog %s (gtid %q): %s",
		r.spec.Name, table, txn.Query, txn.End, txn.GTID, what)}
	r.noteError(ErrorSchema, err)
	return err
}

// rowErrorKind classifies an error a function returned for a row: a column
// the flow uses that the row's table no longer has is a schema change (the
// flow's columns were checked against the upstream when it started).
func rowErrorKind(err error) ErrorKind {
	var missing *functions.ColumnError
	if errors.As(err, &missing) {
		return ErrorSchema
	}
	return ErrorFunction
}

// beforeStop commits the open batch when a statement stops the flow, and
// waits for the committer to apply it, so that the checkpoint lands just
// before the statement and going on after it, as the error may advise,
// loses nothing.
func (r *runner) beforeStop(ctx context.Context, err error) error {
	var se *statementError
	if !errors.As(err, &se) {
		return err
	}
	if ferr := r.flush(ctx); ferr != nil {
		return errors.Join(err, ferr)
	}
	for {
		r.stats.mu.Lock()
		at := r.stats.checkpoint.Pos
		r.stats.mu.Unlock()
		if at.Compare(r.taken) >= 0 {
			return err
		}
		select {
		case cerr := <-r.commitDone:
			r.commitDone <- cerr // for run's deferred wait
			return errors.Join(err, cerr)
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}
