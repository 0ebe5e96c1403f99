package canal

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/testenv"
)

func event(logPos uint32, e replication.Event) *replication.BinlogEvent {
	return &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: logPos, EventSize: 40}, Event: e}
}

// Only heartbeats and events past the furthest position received are
// activity: not the fake Rotate and Format_description a connection starts
// with, nor events sent again after a reconnect.
func TestFreshnessCountsNewEventsAndHeartbeatsOnly(t *testing.T) {
	f := &freshness{seen: schema.Position{File: "bin.000002", Pos: 1000}}
	steps := []struct {
		what  string
		file  string
		ev    *replication.BinlogEvent
		fresh bool
	}{
		{"fake rotate of a new connection", "", event(0, &replication.RotateEvent{NextLogName: []byte("bin.000002"), Position: 1000}), false},
		{"format description of a dump starting mid-file", "bin.000002", event(0, &replication.FormatDescriptionEvent{}), false},
		{"an event before the start", "bin.000002", event(900, &replication.QueryEvent{}), false},
		{"the first new event", "bin.000002", event(1100, &replication.QueryEvent{}), true},
		{"a heartbeat", "bin.000002", event(0, &replication.HeartbeatEvent{}), true},
		{"reconnect: fake rotate again", "bin.000002", event(0, &replication.RotateEvent{NextLogName: []byte("bin.000002"), Position: 1000}), false},
		{"reconnect: the event sent again", "bin.000002", event(1100, &replication.QueryEvent{}), false},
		{"the next event", "bin.000002", event(1200, &replication.XIDEvent{}), true},
		{"a real rotate at the file's end", "bin.000002", event(1250, &replication.RotateEvent{NextLogName: []byte("bin.000003"), Position: 4}), true},
		{"the new file's format description", "bin.000003", event(256, &replication.FormatDescriptionEvent{}), true},
	}
	for _, s := range steps {
		if got := f.fresh(s.file, s.ev); got != s.fresh {
			t.Errorf("%s: fresh %v, want %v", s.what, got, s.fresh)
		}
	}
}

// dumpProxy forwards MySQL connections to the upstream. Muted, it drops
// the heartbeats of every binlog dump: an upstream that accepts
// connections and starts a dump, then sends nothing. The test writes
// nothing upstream meanwhile, so a dump sends only its preamble.
type dumpProxy struct {
	ln     net.Listener
	target string
	muted  atomic.Bool
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func newDumpProxy(t *testing.T, target string) *dumpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dumpProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *dumpProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *dumpProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		var dumping atomic.Bool
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer server.Close()
			p.pipe(client, server, func(payload []byte) bool {
				if len(payload) > 0 && (payload[0] == 0x12 || payload[0] == 0x1e) { // COM_BINLOG_DUMP(_GTID)
					dumping.Store(true)
				}
				return true
			})
		}()
		go func() {
			defer p.wg.Done()
			defer client.Close()
			p.pipe(server, client, func(payload []byte) bool {
				// A binlog event packet: OK byte, then the event header,
				// whose fifth byte is the event type.
				heartbeat := len(payload) > 5 && payload[0] == 0 && (payload[5] == byte(replication.HEARTBEAT_EVENT) || payload[5] == byte(replication.HEARTBEAT_LOG_EVENT_V2))
				return !(dumping.Load() && heartbeat && p.muted.Load())
			})
		}()
	}
}

// pipe copies MySQL packets from src to dst, those keep says.
func (p *dumpProxy) pipe(src, dst net.Conn, keep func(payload []byte) bool) {
	header := make([]byte, 4)
	for {
		if _, err := io.ReadFull(src, header); err != nil {
			return
		}
		n := int(header[0]) | int(header[1])<<8 | int(header[2])<<16
		payload := make([]byte, n)
		if _, err := io.ReadFull(src, payload); err != nil {
			return
		}
		if !keep(payload) {
			continue
		}
		if _, err := dst.Write(append(header, payload...)); err != nil {
			return
		}
		header = make([]byte, 4)
	}
}

func (p *dumpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// An upstream that accepts reconnects but never streams: each reconnect
// brings its synthetic events, yet no activity, so the monitor sees a
// stall instead of a reader that looks alive every read timeout.
func TestReconnectsThatStreamNothingAreNotActivity(t *testing.T) {
	host, port := testenv.UpstreamAddr()
	testenv.Upstream(t) // skips when the upstream is not there
	proxy := newDumpProxy(t, net.JoinHostPort(host, strconv.Itoa(port)))
	o := testOptions()
	o.Host, o.Port = "127.0.0.1", proxy.port()
	o.Progress = &ReadProgress{}
	ctx, cancel := context.WithCancel(context.Background())
	src, err := NewSource(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	from, err := src.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- src.Stream(ctx, from, func(context.Context, *schema.Txn) error { return nil }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stream: %v", err)
		}
	}()
	waitFor := func(what string, cond func(ReadProgressSnapshot) bool) ReadProgressSnapshot {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := o.Progress.Snapshot()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("heartbeats", func(s ReadProgressSnapshot) bool { return s.Heartbeats >= 2 })

	proxy.muted.Store(true)
	// Heartbeats already on their way are activity still.
	time.Sleep(200 * time.Millisecond)
	muted := o.Progress.Snapshot()
	// The read timeout is 3 heartbeat periods (3s): two reconnects, each
	// starting a dump with its synthetic events.
	during := waitFor("two reconnects", func(s ReadProgressSnapshot) bool { return s.Reconnects >= muted.Reconnects+2 })
	if during.Events <= muted.Events {
		t.Errorf("reconnects brought no events (%d, then %d): the proxy muted more than heartbeats", muted.Events, during.Events)
	}
	if during.Activity != muted.Activity {
		t.Errorf("activity went from %d to %d over %d reconnects that streamed nothing but their synthetic events (%d events)",
			muted.Activity, during.Activity, during.Reconnects-muted.Reconnects, during.Events-muted.Events)
	}

	proxy.muted.Store(false)
	waitFor("activity again", func(s ReadProgressSnapshot) bool { return s.Activity > during.Activity })
}
