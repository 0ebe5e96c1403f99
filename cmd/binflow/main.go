// Command binflow is the binflow binary. It only wires: a registry of Go
// functions with the sample functions of config.toml (functions/sample),
// the Go runtime's soft memory limit (cli.SetMemoryLimit), and package cli,
// which holds every command (run, check, migrate, status, rebuild, verify,
// reset).
package main

import (
	"fmt"
	"os"

	"github.com/binflow/binflow/cli"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/functions/sample"
)

func main() {
	cli.SetMemoryLimit()
	reg := functions.NewRegistry()
	if err := sample.Register(reg); err != nil {
		fmt.Fprintln(os.Stderr, "binflow:", err)
		os.Exit(1)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, reg, cli.Options{}))
}
