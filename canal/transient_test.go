package canal

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	gosqlmysql "github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/schema/binlogtest"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{driver.ErrBadConn, true},
		{fmt.Errorf("query: %w", gosqlmysql.ErrInvalidConn), true},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{&gosqlmysql.MySQLError{Number: 2013, Message: "Lost connection"}, true},
		{&gosqlmysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}, true},
		{&gosqlmysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}, false},
		{&gosqlmysql.MySQLError{Number: 1142, Message: "SELECT command denied"}, false},
		{errors.New("syntax"), false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// failingUpstream fails every schema-history query with err.
type failingUpstream struct{ err error }

func (f failingUpstream) Definition(context.Context, string) (*schema.TableDef, schema.Position, error) {
	return nil, schema.Position{}, queryError(f.err)
}

func (f failingUpstream) Statements(context.Context, schema.Position, schema.Position) ([]loggedStatement, error) {
	return nil, queryError(f.err)
}

// A schema-history query failing on a lost connection ends the connection
// without stopping the stream (the reader reconnects and reads the
// transaction again); one failing for good stops it.
func TestHistoryQueryFailuresReconnectOrStop(t *testing.T) {
	p, err := binlogtest.NewParser(mysql.MariaDBFlavor)
	if err != nil {
		t.Fatal(err)
	}
	tbl := &binlogtest.Table{ID: 7, Schema: "shop", Name: "t", Minimal: true,
		Columns: []binlogtest.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONG}}}
	for _, tt := range []struct {
		cause error
		fatal bool
	}{
		{driver.ErrBadConn, false},
		{&gosqlmysql.MySQLError{Number: 2006, Message: "MySQL server has gone away"}, false},
		{&gosqlmysql.MySQLError{Number: 1142, Message: "SELECT command denied"}, true},
	} {
		d := newTestDecoder()
		d.history, d.ctx = newSchemaHistory(failingUpstream{tt.cause}), context.Background()
		_, err := feed(t, d, p, tableMap(tbl))
		if err == nil {
			t.Fatalf("%v: a MINIMAL table map decoded without its definition", tt.cause)
		}
		var fatal *fatalError
		if got := errors.As(eventError(err), &fatal); got != tt.fatal {
			t.Errorf("%v: fatal = %v, want %v (%v)", tt.cause, got, tt.fatal, err)
		}
	}
}
