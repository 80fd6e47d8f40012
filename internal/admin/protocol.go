package admin

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// ProtocolVersion is carried in every request and response. An agent and a
// command of different protocol versions refuse each other with a message
// that says so, instead of misreading fields.
const ProtocolVersion = 1

// Request is one command sent by the CLI to the agent.
type Request struct {
	V       int      `json:"v"`
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	// Flags holds the command's single-dash options (EFM style), e.g.
	// {"switchover": "true", "sourcenode": "10.0.0.3"}.
	Flags map[string]string `json:"flags,omitempty"`
}

// Response is the agent's answer. Data is command specific JSON.
type Response struct {
	V     int             `json:"v"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// SocketPath is where the agent of cluster listens, given pid.dir.
func SocketPath(pidDir, cluster string) string {
	return filepath.Join(pidDir, cluster+".sock")
}

// Decode unmarshals the response data into v.
func (r *Response) Decode(v any) error {
	if len(r.Data) == 0 {
		return fmt.Errorf("agent sent no data")
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("decoding agent response: %w", err)
	}
	return nil
}
