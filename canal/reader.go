// Package canal owns the upstream side of the data path: it connects to a
// MySQL/MariaDB server as a replica (go-mysql's replication protocol, the
// layer go-mysql's canal is built on), reads the binlog from a position,
// groups row events into whole upstream transactions, reconnects on drops
// and runs the preflight checks of `binflow check`.
//
// It knows nothing of flows or downstream stores. It never skips an event:
// a purged position or an undecodable row stops the stream with an error.
package canal

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gosqlmysql "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/schema"
)

// Options say where the upstream is and who binflow is to it.
type Options struct {
	Flavor   string // mysql.MariaDBFlavor or mysql.MySQLFlavor
	Host     string
	Port     int
	User     string
	Password string
	// ServerID binflow presents as a replica; unique among the upstream's replicas.
	ServerID uint32
	TLS      *tls.Config
	Log      zerolog.Logger
	// MaxBackoff bounds the wait between reconnect attempts (default 30s).
	MaxBackoff time.Duration
	// HeartbeatPeriod asks the upstream for heartbeats while idle, so a dead
	// connection is noticed (default 5s).
	HeartbeatPeriod time.Duration
	// Progress, when set, counts the events read and records heartbeats.
	Progress *ReadProgress
	// Tables, when not empty, are the only tables ("schema.table") whose
	// rows are decoded and handed out: rows events of other tables are
	// skipped unread, while their transactions still pass (without those
	// rows), so positions and checkpoints keep moving.
	Tables []string

	history *schemaHistory // one per Stream call, across reconnects (see history.go)
	fresh   *freshness     // one per Stream call, across reconnects (see progress.go)
}

// Handler receives each complete upstream transaction in binlog order. It
// may block (that is the backpressure); an error stops the stream. The Txn
// and its rows are owned by the handler once passed.
type Handler func(ctx context.Context, txn *schema.Txn) error

// ErrPurged reports that the requested binlog position is gone from the upstream.
var ErrPurged = errors.New("binlog position no longer on the upstream")

// StreamFromGTID reads the binlog after the transactions of a GTID set (in
// the upstream's flavor), which works across servers of one replication
// topology; after the first transaction it goes on like Stream.
func StreamFromGTID(ctx context.Context, o Options, set string, h Handler) error {
	gset, err := ParseGTIDSet(o.Flavor, set)
	if err != nil {
		return err
	}
	if o.history == nil {
		up := &upstreamConnection{opts: o}
		defer up.close()
		o.history = newSchemaHistory(up)
	}
	if o.fresh == nil {
		o.fresh = &freshness{}
	}
	bodies := newRowsBodies()
	syncer := newSyncer(o, bodies)
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		syncer.Close()
		return classify(err, schema.Position{File: "gtid " + set})
	}
	last, progressed, err := stream(ctx, streamer, schema.Position{}, h, o, bodies)
	syncer.Close()
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	var fatal *fatalError
	if errors.As(err, &fatal) {
		return fatal.err
	}
	if !progressed {
		return err
	}
	o.Log.Warn().Err(err).Str("position", last.String()).Msg("binlog stream interrupted; reconnecting by position")
	o.Progress.reconnected()
	return Stream(ctx, o, last, h)
}

// Stream reads the binlog from `from`, which must be a transaction boundary,
// and hands every transaction to h until ctx is done (returning ctx.Err()) or
// a non-recoverable error occurs. Connection drops are retried with backoff
// from the end of the last transaction handed out, so nothing is skipped or
// repeated.
func Stream(ctx context.Context, o Options, from schema.Position, h Handler) error {
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.HeartbeatPeriod == 0 {
		o.HeartbeatPeriod = 5 * time.Second
	}
	if o.history == nil {
		up := &upstreamConnection{opts: o}
		defer up.close()
		o.history = newSchemaHistory(up)
	}
	if o.fresh == nil {
		o.fresh = &freshness{seen: from}
	}
	pos := from
	backoff := 250 * time.Millisecond
	for first := true; ; first = false {
		if !first {
			o.Progress.reconnected()
		}
		next, progressed, err := streamOnce(ctx, o, pos, h)
		pos = next
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if progressed {
			backoff = 250 * time.Millisecond
		}
		o.Log.Warn().Err(err).Str("position", pos.String()).Dur("retry_in", backoff).Msg("binlog stream interrupted; reconnecting")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, o.MaxBackoff)
	}
}

// fatalError marks errors that reconnecting cannot cure.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }

func newSyncer(o Options, bodies *rowsBodies) *replication.BinlogSyncer {
	flavor := o.Flavor
	if flavor == "" {
		flavor = mysql.MariaDBFlavor
	}
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:        o.ServerID,
		Flavor:          flavor,
		Host:            o.Host,
		Port:            uint16(o.Port),
		User:            o.User,
		Password:        o.Password,
		TLSConfig:       o.TLS,
		ParseTime:       true,
		UseDecimal:      true,
		HeartbeatPeriod: o.HeartbeatPeriod,
		ReadTimeout:     3 * o.HeartbeatPeriod,
		// Reconnects are ours: go-mysql's own retry resumes mid-transaction.
		DisableRetrySync:     true,
		MaxReconnectAttempts: 1,
		Logger:               discardLogger,
		// go-mysql buffers decoded events ahead of the handler; its default
		// (10,240 events) can hold a whole backlog in memory. binflow's own
		// per-flow queues provide the read-ahead, so keep this small.
		EventCacheCount: 256,
		// Rows are decoded by binflow from the event bytes (see
		// decoder.decodeRows); go-mysql's parser only reads the header.
		RowsEventDecodeFunc: bodies.decodeHeader,
	})
}

// streamOnce runs one connection. It returns the position after the last
// transaction handed to h and whether any was.
func streamOnce(ctx context.Context, o Options, from schema.Position, h Handler) (schema.Position, bool, error) {
	bodies := newRowsBodies()
	syncer := newSyncer(o, bodies)
	defer syncer.Close()
	streamer, err := syncer.StartSync(mysql.Position{Name: from.File, Pos: from.Pos})
	if err != nil {
		return from, false, classify(err, from)
	}
	return stream(ctx, streamer, from, h, o, bodies)
}

// stream decodes events into transactions until an error.
func stream(ctx context.Context, streamer *replication.BinlogStreamer, from schema.Position, h Handler, o Options, bodies *rowsBodies) (schema.Position, bool, error) {
	d := decoder{file: from.File, tables: make(map[uint64]*schema.Table), maps: make(map[uint64]*replication.TableMapEvent),
		images: make(map[uint64]*schema.ImageDecoder), bodies: bodies, history: o.history, ctx: ctx}
	if len(o.Tables) > 0 {
		d.only = make(map[string]bool, len(o.Tables))
		for _, t := range o.Tables {
			d.only[t] = true
		}
	}
	progress := o.Progress
	progressed := false
	last := from
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return last, progressed, classify(err, last)
		}
		progress.observe(ev, o.fresh != nil && o.fresh.fresh(d.file, ev))
		txn, err := d.event(ev)
		if err != nil {
			return last, progressed, eventError(fmt.Errorf("binlog at %s:%d: %w", d.file, ev.Header.LogPos, err))
		}
		if txn == nil {
			continue
		}
		if err := h(ctx, txn); err != nil {
			return last, progressed, &fatalError{err}
		}
		last, progressed = txn.End, true
	}
}

// eventError is how an event that could not be decoded ends a connection:
// fatal (the stream stops), unless an upstream query of the schema history
// failed in a way a reconnect may cure; then the outer loop reconnects and
// reads the transaction again from its start.
func eventError(err error) error {
	var transient *transientQueryError
	if errors.As(err, &transient) {
		return err
	}
	return &fatalError{&EventError{err}}
}

// EventError is a binlog event binflow cannot turn into rows: a table map
// that does not match what binflow knows of the table's definition, a row
// it cannot decode. It names the binlog position and the table. The flows
// count it as a schema error (its SchemaError method says so, for packages
// that do not import canal).
type EventError struct{ err error }

func (e *EventError) Error() string { return e.err.Error() }
func (e *EventError) Unwrap() error { return e.err }

// SchemaError marks the error as one of the upstream's schema.
func (e *EventError) SchemaError() bool { return true }

// Transient reports whether err, from a query to a MySQL or MariaDB server,
// may not happen again: a lost or refused connection, a server shutting
// down, a lock wait timeout or a deadlock. Others (a missing table, a
// denied grant, bad SQL) are for good.
func Transient(err error) bool {
	var me *gosqlmysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1205, 1213, 2006, 2013: // too many connections, shutdown, lock wait, deadlock, gone away, lost
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, gosqlmysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// classify turns server errors that no retry can fix into fatal errors.
func classify(err error, at schema.Position) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG: // 1236: purged, or a bad position
			return &fatalError{fmt.Errorf("%w: cannot read binlog at %s: %s; the flows starting there must be rebuilt from a fresh snapshot or reset to a position the upstream still has (see `binflow check`)", ErrPurged, at, me.Message)}
		case mysql.ER_ACCESS_DENIED_ERROR, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, mysql.ER_DBACCESS_DENIED_ERROR:
			return &fatalError{fmt.Errorf("upstream refused binflow's user: %s; grant REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR on MariaDB) and SELECT", me.Message)}
		}
	}
	if strings.Contains(err.Error(), "Access denied") {
		return &fatalError{fmt.Errorf("upstream refused binflow's user: %w", err)}
	}
	return err
}

// decoder turns the event stream of one connection into transactions.
type decoder struct {
	file   string
	tables map[uint64]*schema.Table              // by table id, from the latest table map
	maps   map[uint64]*replication.TableMapEvent // the table map each schema was built from
	txn    *schema.Txn
	gtid   string
	ddl    DDLParser
	// images decode the rows of each table id's current schema, nil for a
	// schema only go-mysql decodes.
	images map[uint64]*schema.ImageDecoder
	bodies *rowsBodies
	only   map[string]bool // the tables whose rows are read; nil: all

	// history supplies table definitions the table maps lack (nil: none);
	// ctx is the stream's, for the upstream queries it may make.
	history *schemaHistory
	ctx     context.Context
}

func (d *decoder) event(ev *replication.BinlogEvent) (*schema.Txn, error) {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		d.file = string(e.NextLogName)
	case *replication.MariadbGTIDEvent:
		d.gtid = e.GTID.String()
		d.begin(h)
	case *replication.GTIDEvent:
		d.gtid = gtidString(e)
	case *replication.TableMapEvent:
		if d.only != nil && !d.only[string(e.Schema)+"."+string(e.Table)] {
			// A table no flow reads: its rows are skipped unread, so its
			// schema is never needed (nor looked up in the history).
			if old := d.tables[e.TableID]; old == nil || old.Schema != string(e.Schema) || old.Name != string(e.Table) {
				d.tables[e.TableID] = schema.NewTable(string(e.Schema), string(e.Table), nil, nil)
			}
			delete(d.maps, e.TableID)
			delete(d.images, e.TableID)
			return nil, nil
		}
		_, known := d.tables[e.TableID]
		reused := known && sameMap(d.maps[e.TableID], e)
		t, err := d.table(e, h)
		if err != nil {
			return nil, err
		}
		// The image decoder reads the event bytes with this map's metadata
		// (lengths, precisions): rebuild it whenever the map changed, even
		// when the schema history gives the same table for it.
		if !reused {
			if d.images == nil {
				d.images = make(map[uint64]*schema.ImageDecoder)
			}
			d.images[e.TableID], _ = schema.NewImageDecoder(t, e)
		}
		d.tables[e.TableID], d.maps[e.TableID] = t, e
	case *replication.RowsEvent:
		return nil, d.rows(ev.Header.EventType, e)
	case *replication.XIDEvent:
		return d.commit(h), nil
	case *replication.QueryEvent:
		q := string(e.Query)
		switch {
		case strings.EqualFold(q, "BEGIN"):
			if d.txn == nil {
				d.begin(h)
			}
		case strings.EqualFold(q, "COMMIT"):
			return d.commit(h), nil
		default:
			// A DDL or other statement: its own transaction, carrying no
			// rows, and what it does to tables, for the flows to react to.
			d.begin(h)
			d.txn.Query = q
			d.txn.QuerySchema = string(e.Schema)
			d.txn.Changes, d.txn.QueryErr = d.ddl.ParseDDL(d.txn.QuerySchema, q)
			// Table maps after a statement may look the same and mean other
			// columns (RENAME COLUMN without FULL metadata): rebuild them.
			clear(d.maps)
			if d.history != nil {
				if err := d.history.statement(d.ctx, schema.Position{File: d.file, Pos: h.LogPos}, d.txn.QuerySchema, q); err != nil {
					return nil, err
				}
			}
			return d.commit(h), nil
		}
	}
	return nil, nil
}

func (d *decoder) begin(h *replication.EventHeader) {
	d.txn = &schema.Txn{GTID: d.gtid, ServerID: h.ServerID}
}

func (d *decoder) commit(h *replication.EventHeader) *schema.Txn {
	t := d.txn
	if t == nil {
		t = &schema.Txn{GTID: d.gtid, ServerID: h.ServerID}
	}
	t.End = schema.Position{File: d.file, Pos: h.LogPos}
	t.CommitTime = time.Unix(int64(h.Timestamp), 0).UTC()
	d.txn, d.gtid = nil, ""
	return t
}

// table reuses the previous schema for a table id when the table map is
// unchanged, so steady streams do not rebuild schemas per transaction.
func (d *decoder) table(e *replication.TableMapEvent, h *replication.EventHeader) (*schema.Table, error) {
	if old, ok := d.tables[e.TableID]; ok && sameMap(d.maps[e.TableID], e) {
		return old, nil
	}
	if d.history != nil && d.history.needed(e) {
		return d.history.table(d.ctx, schema.Position{File: d.file, Pos: h.LogPos - h.EventSize}, e)
	}
	return schema.TableFromMap(e)
}

// sameMap reports whether two table maps describe the same schema: names,
// types, and all the metadata decoding depends on. An ALTER that keeps the
// type bytes (VARCHAR(10) to VARCHAR(20), latin1 to utf8mb4, new ENUM
// values, INT to INT UNSIGNED) changes the metadata, and the schema with it.
func sameMap(a, b *replication.TableMapEvent) bool {
	if a == nil || a == b {
		return a != nil
	}
	eq := func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }
	eq2 := func(x, y [][][]byte) bool { return slices.EqualFunc(x, y, eq) }
	return bytes.Equal(a.Schema, b.Schema) && bytes.Equal(a.Table, b.Table) && a.ColumnCount == b.ColumnCount &&
		bytes.Equal(a.ColumnType, b.ColumnType) && slices.Equal(a.ColumnMeta, b.ColumnMeta) &&
		bytes.Equal(a.NullBitmap, b.NullBitmap) && bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) &&
		slices.Equal(a.DefaultCharset, b.DefaultCharset) && slices.Equal(a.ColumnCharset, b.ColumnCharset) &&
		slices.Equal(a.EnumSetDefaultCharset, b.EnumSetDefaultCharset) && slices.Equal(a.EnumSetColumnCharset, b.EnumSetColumnCharset) &&
		eq(a.ColumnName, b.ColumnName) && eq2(a.EnumStrValue, b.EnumStrValue) && eq2(a.SetStrValue, b.SetStrValue) &&
		slices.Equal(a.PrimaryKey, b.PrimaryKey) && slices.Equal(a.PrimaryKeyPrefix, b.PrimaryKeyPrefix) &&
		slices.Equal(a.GeometryType, b.GeometryType)
}

func (d *decoder) rows(et replication.EventType, e *replication.RowsEvent) error {
	t, ok := d.tables[e.TableID]
	if !ok {
		return fmt.Errorf("rows event for unknown table id %d (no table map event before it)", e.TableID)
	}
	if d.txn == nil {
		return fmt.Errorf("rows event for %s outside a transaction", t.FullName())
	}
	var op schema.Op
	switch et {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		op = schema.Insert
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		op = schema.Update
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		op = schema.Delete
	default:
		return fmt.Errorf("unsupported rows event type %s", et)
	}
	body, kept := d.bodies.take(e)
	if d.only != nil && !d.only[t.FullName()] {
		return nil // a table no flow reads: skipped unread
	}
	images, err := d.decodeRows(et, e, t, body, kept)
	if err != nil {
		return err
	}
	// Grow the transaction's rows once per event, not once per row.
	n := len(images)
	if op == schema.Update {
		if n%2 != 0 {
			return fmt.Errorf("update rows event for %s has an odd number of images", t.FullName())
		}
		n /= 2
	}
	d.txn.Rows = slices.Grow(d.txn.Rows, n)
	switch op {
	case schema.Insert:
		for _, r := range images {
			d.txn.Rows = append(d.txn.Rows, schema.Row{Table: t, Op: op, After: r})
		}
	case schema.Delete:
		for _, r := range images {
			d.txn.Rows = append(d.txn.Rows, schema.Row{Table: t, Op: op, Before: r})
		}
	case schema.Update:
		for i := 0; i < len(images); i += 2 {
			d.txn.Rows = append(d.txn.Rows, schema.Row{Table: t, Op: op, Before: images[i], After: images[i+1]})
		}
	}
	return nil
}

// rowsPerSlab is how many rows' values one allocation holds: rows of a
// rows event live and die together (one transaction), so they can share.
const rowsPerSlab = 64

// decodeRows reads the row images of a rows event (before and after images
// in turn for updates) as binflow's typed values: with the table's image
// decoder when it has one, else through go-mysql's decoder and
// Table.Decode. Without a kept body, go-mysql's parser decoded the rows.
func (d *decoder) decodeRows(et replication.EventType, e *replication.RowsEvent, t *schema.Table, body rowsBody, kept bool) ([][]any, error) {
	dec := d.images[e.TableID]
	if !kept || dec == nil || dec.Table() != t || et == replication.PARTIAL_UPDATE_ROWS_EVENT {
		if kept {
			if err := e.DecodeData(body.pos, body.data); err != nil {
				return nil, fmt.Errorf("rows event for %s: %w", t.FullName(), err)
			}
		}
		for i := range e.Rows {
			if err := t.Decode(e.Rows[i]); err != nil {
				return nil, err
			}
		}
		return e.Rows, nil
	}
	data := body.data[body.pos:]
	switch et {
	case replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		var err error
		if data, err = mysql.DecompressMariadbData(data); err != nil {
			return nil, fmt.Errorf("rows event for %s: decompress: %w", t.FullName(), err)
		}
	}
	ncols := len(t.Columns)
	if int(e.ColumnCount) != ncols {
		return nil, fmt.Errorf("table %s: rows event has %d columns, schema has %d", t.FullName(), e.ColumnCount, ncols)
	}
	var images [][]any
	var slab []any
	bitmap := e.ColumnBitmap1
	for len(data) > 0 {
		if len(slab) < ncols {
			slab = make([]any, ncols*rowsPerSlab)
		}
		row := slab[:ncols:ncols]
		slab = slab[ncols:]
		n, err := dec.Decode(data, bitmap, row)
		if err != nil {
			return nil, err
		}
		data = data[n:]
		images = append(images, row)
		if e.ColumnBitmap2 != nil {
			// Updates: before and after images alternate, each with its bitmap.
			if bitmap = e.ColumnBitmap2; len(images)%2 == 0 {
				bitmap = e.ColumnBitmap1
			}
		}
	}
	return images, nil
}

// rowsBodies carries the body of each rows event from go-mysql's parser
// goroutine, which only decodes the event's header, to the reader, which
// decodes the rows it wants. Entries are taken in binlog order; those of
// an interrupted connection go with its rowsBodies.
type rowsBodies struct {
	mu sync.Mutex
	m  map[*replication.RowsEvent]rowsBody
}

// rowsBody is a rows event's body and where its first row image starts.
type rowsBody struct {
	data []byte
	pos  int
}

func newRowsBodies() *rowsBodies {
	return &rowsBodies{m: make(map[*replication.RowsEvent]rowsBody)}
}

// decodeHeader is go-mysql's RowsEventDecodeFunc: it reads the header (the
// table, the column bitmaps) and keeps the body for the reader.
func (b *rowsBodies) decodeHeader(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.m[e] = rowsBody{data: data, pos: pos}
	b.mu.Unlock()
	return nil
}

func (b *rowsBodies) take(e *replication.RowsEvent) (rowsBody, bool) {
	if b == nil {
		return rowsBody{}, false
	}
	b.mu.Lock()
	body, ok := b.m[e]
	delete(b.m, e)
	b.mu.Unlock()
	return body, ok
}

// gtidString renders a MySQL GTID event as "uuid:gno"; empty if malformed.
func gtidString(e *replication.GTIDEvent) string {
	next, err := e.GTIDNext()
	if err != nil {
		return ""
	}
	return next.String()
}
