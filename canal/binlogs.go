package canal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/schema"
)

// BinlogFile is one binary log the upstream still has (SHOW BINARY LOGS).
type BinlogFile struct {
	Name string
	Size uint64 // bytes
}

// Binlogs is the upstream's binary logs, oldest first.
type Binlogs []BinlogFile

// BinaryLogs lists the upstream's binary logs with their sizes, oldest
// first; none when binary logging is off.
func (s *Source) BinaryLogs(ctx context.Context) (Binlogs, error) {
	return BinaryLogs(ctx, s.db)
}

// BinaryLogs is Source.BinaryLogs on any connection to the upstream.
func BinaryLogs(ctx context.Context, db *sql.DB) (Binlogs, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == checkErrNoBinaryLogging {
			return nil, nil
		}
		return nil, fmt.Errorf("SHOW BINARY LOGS (needs REPLICATION CLIENT, or BINLOG MONITOR on MariaDB): %w", err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	if len(columns) < 2 {
		return nil, fmt.Errorf("SHOW BINARY LOGS: expected Log_name and File_size, got columns %v", columns)
	}
	var files Binlogs
	values := make([]sql.RawBytes, len(columns))
	dest := make([]any, len(columns))
	for i := range values {
		dest[i] = &values[i]
	}
	for rows.Next() {
		// Log_name, File_size, and on MySQL 8 Encrypted.
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
		}
		size, err := strconv.ParseUint(string(values[1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SHOW BINARY LOGS: size %q of %s: %w", values[1], values[0], err)
		}
		files = append(files, BinlogFile{Name: string(values[0]), Size: size})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	return files, nil
}

// Oldest is the name of the oldest binary log, "" when there is none.
func (b Binlogs) Oldest() string {
	if len(b) == 0 {
		return ""
	}
	return b[0].Name
}

// Newest is the name of the newest (active) binary log, "" when there is none.
func (b Binlogs) Newest() string {
	if len(b) == 0 {
		return ""
	}
	return b[len(b)-1].Name
}

// Has reports whether the upstream still has the binary log named file.
func (b Binlogs) Has(file string) bool {
	for _, f := range b {
		if f.Name == file {
			return true
		}
	}
	return false
}

// BytesBetween is how many binlog bytes lie from position from up to
// position to: the rest of from's file, every file in between, and to's
// offset. It is 0 when from is at or past to, and false when a file of the
// range is no longer listed (from was purged, or belongs to another server).
func (b Binlogs) BytesBetween(from, to schema.Position) (uint64, bool) {
	if from.Compare(to) >= 0 {
		return 0, true
	}
	if from.File == to.File {
		return uint64(to.Pos - from.Pos), true
	}
	first := -1
	for i, f := range b {
		if f.Name == from.File {
			first = i
			break
		}
	}
	if first < 0 {
		return 0, false
	}
	var n uint64
	if size := b[first].Size; size > uint64(from.Pos) {
		n = size - uint64(from.Pos)
	}
	for _, f := range b[first+1:] {
		if f.Name == to.File {
			return n + uint64(to.Pos), true
		}
		n += f.Size
	}
	return 0, false
}
