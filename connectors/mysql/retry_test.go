package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/connectors/internal/stmt"
)

func TestRetryable(t *testing.T) {
	serverErr := func(n uint16) error { return &mysql.MySQLError{Number: n, Message: fmt.Sprintf("error %d", n)} }
	wrap := func(err error) error { return fmt.Errorf("mysql connector: apply batch for flow f: upsert 0: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad conn", driver.ErrBadConn, true},
		{"invalid conn", mysql.ErrInvalidConn, true},
		{"wrapped invalid conn", wrap(mysql.ErrInvalidConn), true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", wrap(syscall.ECONNRESET), true},
		{"refused as text", errors.New("dial tcp 127.0.0.1:3408: connect: connection refused"), true},
		{"attempt timed out", wrap(context.DeadlineExceeded), true},
		{"caller canceled", wrap(context.Canceled), false},
		{"1205 lock wait timeout", serverErr(1205), true},
		{"1213 deadlock", wrap(serverErr(1213)), true},
		{"1040 too many connections", serverErr(1040), true},
		{"1053 shutdown", serverErr(1053), true},
		{"2006 gone away", serverErr(2006), true},
		{"2013 lost connection", serverErr(2013), true},
		{"1927 connection killed", serverErr(1927), true},
		{"1290 read-only", serverErr(1290), true},
		{"1836 read-only mode", serverErr(1836), true},
		{"1317 interrupted", serverErr(1317), true},
		{"1146 table missing", wrap(serverErr(1146)), false},
		{"1054 unknown column", serverErr(1054), false},
		{"1406 data too long", serverErr(1406), false},
		{"1062 duplicate key", serverErr(1062), false},
		{"1264 out of range", serverErr(1264), false},
		{"1064 syntax", serverErr(1064), false},
		{"1153 packet too large", serverErr(1153), false},
		{"not migrated", fmt.Errorf("%w (%w)", ErrNotMigrated, serverErr(1146)), false},
		{"validation", stmt.ErrNullKey, false},
		{"plain error", errors.New("row 3 has 2 values, want 3"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
