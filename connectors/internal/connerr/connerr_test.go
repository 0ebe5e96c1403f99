package connerr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		secret string
		want   string
	}{
		{"no secret", errors.New("access denied"), "", "access denied"},
		{"absent", errors.New("access denied"), "hunter2", "access denied"},
		{"present", errors.New("bad dsn u:hunter2@tcp"), "hunter2", "bad dsn u:[redacted]@tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.err, tt.secret)
			if got.Error() != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("Redact lost the error chain")
			}
		})
	}
}

func TestLost(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"eof", fmt.Errorf("read: %w", io.EOF), true},
		{"net error", &net.OpError{Op: "read", Err: errors.New("i/o timeout")}, true},
		{"flattened text", errors.New("write tcp: broken pipe"), true},
		{"cancelled", context.Canceled, false},
		{"syntax", errors.New("syntax error near SELEC"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lost(tt.err); got != tt.want {
				t.Errorf("Lost(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
