package connectors

import (
	"time"

	"github.com/binflow/binflow/schema"
)

// FlowErrorTable is where a store keeps each flow's last failure (the 0007
// migration of each dialect).
const FlowErrorTable = "binflow_flow_errors"

// MaxFlowErrorMessage bounds a recorded message, in bytes.
const MaxFlowErrorMessage = 8000

// FlowError is a flow's last failure as recorded downstream: what stopped
// it, when, and where its checkpoint was then. A flow whose checkpoint is
// still there has not committed since.
type FlowError struct {
	Flow    string
	Kind    string // flow.ErrorKind: downstream, function, schema, internal
	Message string
	At      time.Time
	// Checkpoint is the flow's checkpoint position when it failed; zero
	// when it had none (it failed in its snapshot, say).
	Checkpoint schema.Position
	// Resumed is when binflow next started the flow after the failure;
	// zero while it has not.
	Resumed time.Time
}
