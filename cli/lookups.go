package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/snapshot"
)

// lookupReaders opens the readers of a config's lookup functions: one
// connection pool per side, opened on first use, closed by Close.
type lookupReaders struct {
	cfg  *config.Config
	mu   sync.Mutex
	open map[string]*snapshot.Reader // "upstream", "downstream"
}

func newLookupReaders(cfg *config.Config) *lookupReaders {
	return &lookupReaders{cfg: cfg, open: map[string]*snapshot.Reader{}}
}

// Open is a functions.RowReaders.
func (l *lookupReaders) Open(ctx context.Context, from, table string, on, columns []string) (functions.RowReader, error) {
	r, err := l.reader(ctx, from)
	if err != nil {
		return nil, err
	}
	return r.Lookup(ctx, table, on, columns)
}

func (l *lookupReaders) reader(ctx context.Context, from string) (*snapshot.Reader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.open[from]; ok {
		return r, nil
	}
	var opts snapshot.Options
	switch from {
	case config.LookupUpstream:
		opts = snapshotOptions(l.cfg, canal.Options{}) // lookups read rows, never the binlog
	case config.LookupDownstream:
		if d := l.cfg.Downstream.Driver; d != "" && d != config.DriverMySQL {
			return nil, fmt.Errorf("lookups read MySQL or MariaDB downstreams only; downstream.driver is %q (look the table up from the upstream, or join it)", d)
		}
		opts = downstreamReaderOptions(l.cfg)
	default:
		return nil, fmt.Errorf("unknown lookup source %q", from)
	}
	r, err := snapshot.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	l.open[from] = r
	return r, nil
}

// Close closes the pools opened.
func (l *lookupReaders) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, r := range l.open {
		r.Close()
		delete(l.open, k)
	}
}
