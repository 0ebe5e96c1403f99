// Command binflow is the binflow binary: it only wires. The commands (run,
// check, migrate, status, rebuild, verify, reset) live in package cli.
package main

import (
	"os"
	"runtime/debug"

	"github.com/binflow/binflow/cli"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise: the GC works harder near it instead of letting
// the heap double, which keeps binflow's footprint predictable under backlog.
const defaultMemoryLimit = 192 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
