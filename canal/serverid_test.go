package canal

import "testing"

func TestTakeServerIDGivesConcurrentStreamsTheirOwn(t *testing.T) {
	s := &Source{opts: Options{ServerID: 1001}}
	first, releaseFirst := s.takeServerID()
	if first != 1001 {
		t.Fatalf("first stream: server_id %d, want the configured 1001", first)
	}
	seen := map[uint32]bool{first: true}
	var releases []func()
	for i := 0; i < 100; i++ {
		id, release := s.takeServerID()
		if id < 1<<31 {
			t.Fatalf("stream beside the first: server_id %d, want one at or above 2^31", id)
		}
		if seen[id] {
			t.Fatalf("server_id %d handed out twice", id)
		}
		seen[id] = true
		releases = append(releases, release)
	}
	for _, r := range releases {
		r()
	}
	if id, _ := s.takeServerID(); id == 1001 {
		t.Fatal("the configured server_id was handed out while its stream was open")
	}
	releaseFirst()
	if id, _ := s.takeServerID(); id != 1001 {
		t.Fatalf("after the first stream ended: server_id %d, want 1001 again", id)
	}
}
