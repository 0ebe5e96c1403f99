package canal

import (
	"io"
	"log/slog"
)

// discardLogger silences go-mysql's own logging; binflow logs what matters
// with context (flow, position) through zerolog.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
