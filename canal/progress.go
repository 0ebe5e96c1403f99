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
// monitoring: how many events and bytes it has received, and where the
// upstream said it was in its latest heartbeat. The upstream sends a
// heartbeat when it has had nothing to send for Options.HeartbeatPeriod, so
// a reader that is alive sees either events or heartbeats; one that sees
// neither is stalled.
//
// Set Options.Progress to a ReadProgress to have Stream fill it in. It is
// safe for concurrent use; the reader's cost is two atomic adds per event.
type ReadProgress struct {
	events     atomic.Uint64
	bytes      atomic.Uint64
	heartbeats atomic.Uint64

	mu            sync.Mutex
	heartbeatPos  schema.Position
	heartbeatTime time.Time
}

// ReadProgressSnapshot is a ReadProgress at one instant.
type ReadProgressSnapshot struct {
	// Events and Bytes count every binlog event received (heartbeats too),
	// over every connection.
	Events, Bytes uint64
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
	s := ReadProgressSnapshot{Events: p.events.Load(), Bytes: p.bytes.Load(), Heartbeats: p.heartbeats.Load()}
	p.mu.Lock()
	s.HeartbeatPos, s.HeartbeatTime = p.heartbeatPos, p.heartbeatTime
	p.mu.Unlock()
	return s
}

// observe counts one received event; nil p does nothing. It runs on the
// reader's goroutine for every event, so it stays cheap.
func (p *ReadProgress) observe(ev *replication.BinlogEvent) {
	if p == nil {
		return
	}
	p.events.Add(1)
	p.bytes.Add(uint64(ev.Header.EventSize))
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
