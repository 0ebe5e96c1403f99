package config

// Snapshot tunes the initial snapshot of a flow that has no checkpoint (with
// upstream.start = "snapshot", the default) and of a flow being rebuilt: the
// existing rows of its tables are read in primary-key chunks, consistently
// with the binlog (one consistent view, or windows reconciled with the
// binlog: see Method), and applied before streaming begins.
type Snapshot struct {
	// ChunkRows is how many rows one keyset query reads (WHERE pk > last
	// ORDER BY pk LIMIT chunk_rows). Default 10000.
	ChunkRows int `toml:"chunk_rows"`
	// MaxRows bounds one downstream transaction of a snapshot, in output
	// rows (keys or groups), like batch.max_rows for streaming. Default 50000.
	MaxRows int `toml:"max_rows"`
	// MaxDelay commits at the latest this long after the previous commit,
	// which is also how much work a crash can lose: a restarted snapshot
	// resumes after the last committed chunk. Default "2s".
	MaxDelay Duration `toml:"max_delay"`
	// ProgressInterval is how often progress is logged when stderr is not a
	// terminal (a terminal shows a progress bar). Default "5s".
	ProgressInterval Duration `toml:"progress_interval"`
	// Method is how the rows are read consistently with the binlog:
	// "view" (one consistent view for the whole copy, whose binlog position
	// MariaDB reports), "windows" (short reads reconciled with the binlog
	// window after each, no long view: the only method MySQL supports) or
	// "auto" (default: "view" on MariaDB, "windows" on MySQL).
	Method string `toml:"method"`
}

// Snapshot methods.
const (
	SnapshotAuto    = "auto"
	SnapshotView    = "view"
	SnapshotWindows = "windows"
)

var snapshotMethods = []string{SnapshotAuto, SnapshotView, SnapshotWindows}

// SnapshotMethod resolves snapshot.method for an upstream flavor: "view" or
// "windows".
func (c *Config) SnapshotMethod() string {
	switch c.Snapshot.Method {
	case SnapshotView, SnapshotWindows:
		return c.Snapshot.Method
	}
	if c.Upstream.Flavor == FlavorMySQL {
		return SnapshotWindows
	}
	return SnapshotView
}

// Snapshot defaults.
const (
	DefaultSnapshotChunkRows        = 10000
	DefaultSnapshotMaxRows          = 50000
	DefaultSnapshotMaxDelay         = "2s"
	DefaultSnapshotProgressInterval = "5s"
	DefaultSnapshotMethod           = SnapshotAuto
)

// maxSnapshotChunkRows keeps one chunk's rows in memory within reason.
const maxSnapshotChunkRows = 1_000_000

func (s *Snapshot) applyDefaults(setString func(string, *string, string), setInt func(string, *int, int), setDuration func(string, *Duration, string)) {
	setString("snapshot.method", &s.Method, DefaultSnapshotMethod)
	setInt("snapshot.chunk_rows", &s.ChunkRows, DefaultSnapshotChunkRows)
	setInt("snapshot.max_rows", &s.MaxRows, DefaultSnapshotMaxRows)
	setDuration("snapshot.max_delay", &s.MaxDelay, DefaultSnapshotMaxDelay)
	setDuration("snapshot.progress_interval", &s.ProgressInterval, DefaultSnapshotProgressInterval)
}

func (v *validator) snapshot(s *Snapshot, flavor string) {
	v.oneOf("snapshot.method", "snapshot method", s.Method, snapshotMethods)
	if s.Method == SnapshotView && flavor == FlavorMySQL {
		v.add("snapshot.method", `"view" needs MariaDB (MySQL cannot report the binlog position of a consistent view without a global lock); use "windows" or "auto" with upstream.flavor = "mysql"`)
	}
	if s.ChunkRows <= 0 || s.ChunkRows > maxSnapshotChunkRows {
		v.add("snapshot.chunk_rows", "must be an integer from 1 to %d (rows per primary-key chunk), got %d", maxSnapshotChunkRows, s.ChunkRows)
	}
	v.positive("snapshot.max_rows", s.MaxRows)
	if s.MaxDelay.Duration <= 0 {
		v.add("snapshot.max_delay", `must be a positive duration such as "2s", got %s`, s.MaxDelay.Duration)
	}
	if s.ProgressInterval.Duration <= 0 {
		v.add("snapshot.progress_interval", `must be a positive duration such as "5s", got %s`, s.ProgressInterval.Duration)
	}
}
