package main

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM while binflow is still starting (here: waiting for a downstream
// that does not answer) is a clean stop: exit 0, nothing applied.
func TestSignalWhileStartingExitsCleanly(t *testing.T) {
	e := newEnv(t, envOptions{})
	// A port nothing listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := readFile(t, e.configPath)
	downstream := strings.Index(cfg, "[downstream]")
	if downstream < 0 {
		t.Fatalf("no [downstream] in the test config:\n%s", cfg)
	}
	port := regexp.MustCompile(`(?m)^port = \d+$`)
	rest := port.ReplaceAllString(cfg[downstream:], "port = "+strconv.Itoa(closed))
	writeFile(t, e.configPath, cfg[:downstream]+rest)

	p := e.launch("binflow", e.command("run"), func() bool { return true })
	e.waitFor(30*time.Second, "binflow to wait for the downstream", func() bool {
		return strings.Contains(p.out.String(), "downstream unreachable; retrying")
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil || !strings.Contains(p.out.String(), "stopped while starting") {
			t.Errorf("SIGTERM while starting: exit %v, want 0 and \"stopped while starting\"\n%s", err, tail(p.out.String(), 2000))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("binflow did not stop within 20s of SIGTERM while starting")
	}
}
