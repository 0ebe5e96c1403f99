// Package connerr is what the connectors share about errors whatever the
// driver: hiding a password from an error's text, and recognising a lost or
// unreachable connection (worth retrying).
package connerr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// redactedError hides a secret from an error's text while keeping the error
// chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Redact replaces every occurrence of secret in err's text.
func Redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}

// Lost reports whether err says the connection to the server was lost or
// never made (a bad pooled connection, EOF, a refused, reset or timed-out
// socket, any net.Error), whatever the driver; texts are checked too, for
// the paths that flatten the cause into a message. The caller decides
// first about errors that must not be retried (a missing table, a
// cancelled context).
func Lost(err error) bool {
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return TextSays(err, "connection refused", "connection reset", "broken pipe", "bad connection")
}

// TextSays reports whether err's text contains one of texts.
func TextSays(err error, texts ...string) bool {
	msg := err.Error()
	for _, s := range texts {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// CheckServer says what is missing or out of range in a server connector's
// address and login before it dials, or nil: the same checks, in the same
// order, for every server store.
func CheckServer(host string, port int, user, database string) error {
	switch {
	case host == "":
		return errors.New("host is empty")
	case port <= 0 || port > 65535:
		return fmt.Errorf("port %d out of range 1..65535", port)
	case user == "":
		return errors.New("user is empty")
	case database == "":
		return errors.New("database is empty")
	}
	return nil
}
