package config

import (
	"errors"
	"fmt"
	"strings"
)

// ExitCodeInvalid is the process exit code for an invalid config file.
const ExitCodeInvalid = 2

// Error is one problem with a config file. Its message reads
// "<file>: <key>: <problem>" (or "<file>: line N, column M: <problem>" for
// TOML syntax errors), where problem says what was expected.
type Error struct {
	File    string
	Line    int // 1-based; 0 when the problem is not tied to a line
	Column  int // 1-based; 0 when unknown
	Key     string
	Problem string
	// Err is the underlying cause (a read error, say), for errors.Is/As.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one config file, so that the user can fix
// them all in one go. Its message has one problem per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *Error values.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// ExitCode is the process exit code for err: 0 for nil, ExitCodeInvalid (2)
// when err is (or wraps) a config problem, 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var one *Error
	var many Errors
	if errors.As(err, &many) || errors.As(err, &one) {
		return ExitCodeInvalid
	}
	return 1
}

// problems collects the errors of one file.
type problems struct {
	file string
	errs Errors
}

func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Key: key, Problem: fmt.Sprintf(format, args...)})
}

// err returns the collected problems, or nil when there are none.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return p.errs
}
