package canal

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/binflow/binflow/schema"
)

// ReadProgress is the binlog reader's account of its connection, for
// monitoring: how many events and bytes it has received, how many of them
// show the upstream streaming, how often it reconnected, and where the
// upstream said it was in its latest heartbeat. The upstream sends a
// heartbeat when it has had nothing to send for Options.HeartbeatPeriod, so
// a reader that is alive sees either new events or heartbeats; one that
// sees neither is stalled.
//
// Set Options.Progress to a ReadProgress to have Stream fill it in. It is
// safe for concurrent use; the reader's cost is a few atomic adds per event.
type ReadProgress struct {
	events     atomic.Uint64
	bytes      atomic.Uint64
	heartbeats atomic.Uint64
	activity   atomic.Uint64
	reconnects atomic.Uint64

	mu            sync.Mutex
	heartbeatPos  schema.Position
	heartbeatTime time.Time
}

// ReadProgressSnapshot is a ReadProgress at one instant.
type ReadProgressSnapshot struct {
	// Events and Bytes count every binlog event received (heartbeats too),
	// over every connection.
	Events, Bytes uint64
	// Activity counts what shows the upstream streaming: heartbeats, and
	// events past the furthest position the stream had received. The
	// synthetic events a (re)connection starts with (a fake Rotate, a
	// Format_description with no position) and events sent again after a
	// reconnect are events, not activity: an upstream that accepts
	// connections but streams nothing must show as stalled, however often
	// the reader reconnects.
	Activity uint64
	// Reconnects counts new connections made after a connection was
	// interrupted.
	Reconnects uint64
	// Heartbeats counts heartbeat events; HeartbeatPos is the upstream's
	// binlog position reported by the latest one (everything before it has
	// been sent to the reader), received at HeartbeatTime.
	Heartbeats    uint64
	HeartbeatPos  schema.Position
	HeartbeatTime time.Time
}

// Snapshot reads the counters. A nil ReadProgress reads as zero.
func (p *ReadProgress) Snapshot() ReadProgressSnapshot {
	if p == nil {
		return ReadProgressSnapshot{}
	}
	s := ReadProgressSnapshot{Events: p.events.Load(), Bytes: p.bytes.Load(), Heartbeats: p.heartbeats.Load(),
		Activity: p.activity.Load(), Reconnects: p.reconnects.Load()}
	p.mu.Lock()
	s.HeartbeatPos, s.HeartbeatTime = p.heartbeatPos, p.heartbeatTime
	p.mu.Unlock()
	return s
}

// observe counts one received event, and whether it is activity (see
// ReadProgressSnapshot.Activity); nil p does nothing. It runs on the
// reader's goroutine for every event, so it stays cheap.
func (p *ReadProgress) observe(ev *replication.BinlogEvent, active bool) {
	if p == nil {
		return
	}
	p.events.Add(1)
	p.bytes.Add(uint64(ev.Header.EventSize))
	if active {
		p.activity.Add(1)
	}
	if hb, ok := ev.Event.(*replication.HeartbeatEvent); ok {
		p.heartbeat(hb, ev.Header)
	}
}

func (p *ReadProgress) heartbeat(hb *replication.HeartbeatEvent, h *replication.EventHeader) {
	// Version 1 carries the file in its body and the position in the
	// header; version 2 (MySQL 8.0.26+) carries both in its body.
	pos := uint64(h.LogPos)
	if hb.Offset > 0 {
		pos = hb.Offset
	}
	file := strings.TrimRight(hb.Filename, "\x00")
	p.heartbeats.Add(1)
	if file == "" || pos > uint64(^uint32(0)) {
		return
	}
	p.mu.Lock()
	p.heartbeatPos = schema.Position{File: file, Pos: uint32(pos)}
	p.heartbeatTime = time.Now()
	p.mu.Unlock()
}

// reconnected counts a new connection after an interrupted one; nil p does
// nothing.
func (p *ReadProgress) reconnected() {
	if p != nil {
		p.reconnects.Add(1)
	}
}

// freshness tells, for one Stream call across its reconnects, which events
// show the upstream streaming (ReadProgressSnapshot.Activity): heartbeats,
// and events past the furthest binlog position received so far. It is used
// by the stream's goroutine only.
type freshness struct {
	seen schema.Position // the furthest event end received
}

// fresh reports whether ev, read from binlog file (the stream's current
// file, before ev is applied), is activity, and records its position.
func (f *freshness) fresh(file string, ev *replication.BinlogEvent) bool {
	if _, ok := ev.Event.(*replication.HeartbeatEvent); ok {
		return true
	}
	// Position 0: an artificial event of a new connection (the fake
	// Rotate naming the file, the Format_description of a dump that starts
	// mid-file); no file yet: nothing real has been positioned.
	if ev.Header.LogPos == 0 || file == "" {
		return false
	}
	at := schema.Position{File: file, Pos: ev.Header.LogPos}
	if at.Compare(f.seen) <= 0 {
		return false // received before: sent again after a reconnect
	}
	f.seen = at
	return true
}
