package canal

import (
	"context"
	"testing"
	"time"

	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/testenv"
)

// An idle upstream sends heartbeats that say where its binlog ends, also
// after a rotation that no transaction follows: that is how binflow tells an
// idle upstream (caught up) from a stalled reader.
func TestReadProgressHeartbeatsTellUpstreamPosition(t *testing.T) {
	up := testenv.Upstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	o := testOptions()
	o.Progress = &ReadProgress{}
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
	go func() {
		done <- src.Stream(ctx, from, func(context.Context, *schema.Txn) error { return nil })
	}()
	defer func() {
		cancel()
		<-done
	}()

	waitHeartbeatAt := func(what string) ReadProgressSnapshot {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			want, err := src.CurrentPosition(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s := o.Progress.Snapshot()
			if s.Heartbeats > 0 && s.HeartbeatPos == want {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: latest heartbeat (%d so far) says %s, the upstream is at %s", what, s.Heartbeats, s.HeartbeatPos, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	idle := waitHeartbeatAt("idle upstream")
	if idle.Events < idle.Heartbeats || idle.Bytes == 0 || idle.HeartbeatTime.IsZero() {
		t.Errorf("snapshot %+v: events must count heartbeats, bytes must grow", idle)
	}

	if _, err := up.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	rotated := waitHeartbeatAt("after FLUSH BINARY LOGS")
	if rotated.HeartbeatPos.File == idle.HeartbeatPos.File {
		t.Errorf("heartbeat still names %s after a rotation", idle.HeartbeatPos.File)
	}

	files, err := src.BinaryLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !files.Has(rotated.HeartbeatPos.File) || files.Newest() != rotated.HeartbeatPos.File {
		t.Errorf("SHOW BINARY LOGS %v: newest should be %s", files, rotated.HeartbeatPos.File)
	}
	n, ok := files.BytesBetween(idle.HeartbeatPos, rotated.HeartbeatPos)
	if !ok || n == 0 {
		t.Errorf("BytesBetween(%s, %s) = %d, %v; want the rest of the old file and the new file's header", idle.HeartbeatPos, rotated.HeartbeatPos, n, ok)
	}
}

func TestBinlogsBytesBetween(t *testing.T) {
	files := Binlogs{{"b.000001", 1000}, {"b.000002", 500}, {"b.000003", 300}}
	pos := func(file string, p uint32) schema.Position { return schema.Position{File: file, Pos: p} }
	tests := []struct {
		name     string
		from, to schema.Position
		want     uint64
		ok       bool
	}{
		{"same file", pos("b.000002", 100), pos("b.000002", 400), 300, true},
		{"equal", pos("b.000002", 100), pos("b.000002", 100), 0, true},
		{"ahead", pos("b.000003", 100), pos("b.000002", 100), 0, true},
		{"next file", pos("b.000001", 900), pos("b.000002", 50), 150, true},
		{"across a whole file", pos("b.000001", 900), pos("b.000003", 50), 100 + 500 + 50, true},
		{"purged start", pos("b.000000", 900), pos("b.000003", 50), 0, false},
		{"end not listed", pos("b.000001", 900), pos("b.000004", 50), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := files.BytesBetween(tt.from, tt.to)
			if got != tt.want || ok != tt.ok {
				t.Errorf("BytesBetween(%s, %s) = %d, %v; want %d, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
			}
		})
	}
	if files.Oldest() != "b.000001" || files.Newest() != "b.000003" || !files.Has("b.000002") || files.Has("b.000009") {
		t.Errorf("Oldest/Newest/Has wrong for %v", files)
	}
}
