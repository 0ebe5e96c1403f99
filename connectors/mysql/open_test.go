package mysql

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestOpenErrors(t *testing.T) {
	const password = "s3cr3t-Hunter2"
	port := closedPort(t)
	tests := []struct {
		name      string
		opts      Options
		wantText  []string
		retryable bool
	}{
		{
			name:      "nothing listening",
			opts:      Options{Host: "127.0.0.1", Port: port, User: "alice", Password: password, Database: "d"},
			wantText:  []string{"127.0.0.1:" + strconv.Itoa(port), `"alice"`, "connection refused"},
			retryable: true,
		},
		{
			name:     "no database",
			opts:     Options{Host: "127.0.0.1", Port: port, User: "alice", Password: password},
			wantText: []string{"database is empty"},
		},
		{
			name:     "bad port",
			opts:     Options{Host: "127.0.0.1", Port: 70000, User: "alice", Password: password, Database: "d"},
			wantText: []string{"port 70000"},
		},
		{
			name:      "TLS, nothing listening",
			opts:      Options{Host: "127.0.0.1", Port: port, User: "alice", Password: password, Database: "d", TLS: &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}},
			wantText:  []string{"127.0.0.1:" + strconv.Itoa(port), `"alice"`, "connection refused"},
			retryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, password) {
				t.Errorf("error contains the password: %s", msg)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if got := retryable(err); got != tt.retryable {
				t.Errorf("retryable = %v, want %v (%v)", got, tt.retryable, err)
			}
		})
	}
}
