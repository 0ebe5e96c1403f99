package cli

import (
	"os"
	"runtime/debug"
)

// MemoryLimit is the Go runtime's soft memory limit binflow binaries run
// with unless GOMEMLIMIT says otherwise: the GC works harder near it instead
// of letting the heap double, which keeps the footprint predictable under
// a backlog (the bench's peak RSS target is measured with it).
const MemoryLimit = 192 << 20

// SetMemoryLimit applies MemoryLimit unless GOMEMLIMIT is set. A process
// setting, so a binary's main calls it, not Main.
func SetMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
