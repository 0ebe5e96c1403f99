package canal

import "math/rand/v2"

// EphemeralServerID is a server_id for a secondary binlog connection, one
// that may run beside binflow's main reader: a flow catching up on its own
// connection, a snapshot's binlog window, the replay of binflow verify.
// MariaDB and MySQL do not keep two binlog connections of one server_id
// (error 4052, or 1236 "A slave with the same server_uuid/server_id ... has
// connected"): the newer one is refused or the older one dropped, and both
// readers would keep reconnecting. So each secondary connection presents a
// random server_id in [2^31, 2^32); upstream.server_id and the server_ids
// of real replicas belong below 2^31 (config enforces the former).
func EphemeralServerID() uint32 { return 1<<31 | rand.Uint32() }

// takeServerID returns the server_id of a new binlog connection of the
// Source: the configured one while no other connection of it streams,
// otherwise an ephemeral one. release gives it back.
func (s *Source) takeServerID() (id uint32, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streaming {
		return EphemeralServerID(), func() {}
	}
	s.streaming = true
	return s.opts.ServerID, func() {
		s.mu.Lock()
		s.streaming = false
		s.mu.Unlock()
	}
}
