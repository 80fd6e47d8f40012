package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// ProtocolVersion is carried in every request and response. An agent and a
// command of different protocol versions refuse each other with a message
// that says so, instead of misreading fields. Version 2: typed requests
// (version 1 carried the command line's words as strings).
const ProtocolVersion = 2

// Request is one typed command from the CLI to the agent. Each request's
// fields carry their syntax in their types (an address is a netip.Addr)
// and Validate holds the remaining rules on the values alone. Rules that
// need the cluster's state (is this address a database member?) belong to
// the layer that holds that state, not here.
type Request interface {
	// Command is the efm verb the request stands for.
	Command() string
	// Validate reports the first value the request cannot carry, in the
	// words of the command line.
	Validate() error
}

// NodeStatusRequest is efm node-status-json.
type NodeStatusRequest struct{}

// ClusterStatusRequest is efm cluster-status and cluster-status-json.
type ClusterStatusRequest struct{}

// AllowNodeRequest is efm allow-node: Node may join the cluster.
type AllowNodeRequest struct {
	Node netip.Addr `json:"node"`
}

// DisallowNodeRequest is efm disallow-node: Node may no longer join.
type DisallowNodeRequest struct {
	Node netip.Addr `json:"node"`
}

// SetPriorityRequest is efm set-priority: Node's place in the promotion
// list, 1 = first, 0 = never promote.
type SetPriorityRequest struct {
	Node     netip.Addr `json:"node"`
	Priority int        `json:"priority"`
}

// PromoteRequest is efm promote [-switchover [-sourcenode] [-quiet]]
// [-noscripts].
type PromoteRequest struct {
	Switchover bool `json:"switchover,omitempty"`
	Quiet      bool `json:"quiet,omitempty"`
	NoScripts  bool `json:"noscripts,omitempty"`
	// SourceNode is the standby whose replication settings the old
	// primary copies; the zero Addr means none was named.
	SourceNode netip.Addr `json:"sourcenode,omitzero"`
}

// ResumeRequest is efm resume.
type ResumeRequest struct{}

// StopClusterRequest is efm stop-cluster.
type StopClusterRequest struct{}

// ResetMembersRequest is efm reset-members.
type ResetMembersRequest struct{}

// StandbySourceRequest is efm create-standby's question to the local
// agent: which node is the primary, and which replication settings a new
// standby of it can copy. The agent answers with a StandbySource; the
// command builds the standby itself (a base backup outlasts any admin
// request).
type StandbySourceRequest struct{}

func (NodeStatusRequest) Command() string    { return "node-status" }
func (ClusterStatusRequest) Command() string { return "cluster-status" }
func (AllowNodeRequest) Command() string     { return "allow-node" }
func (DisallowNodeRequest) Command() string  { return "disallow-node" }
func (SetPriorityRequest) Command() string   { return "set-priority" }
func (PromoteRequest) Command() string       { return "promote" }
func (ResumeRequest) Command() string        { return "resume" }
func (StopClusterRequest) Command() string   { return "stop-cluster" }
func (ResetMembersRequest) Command() string  { return "reset-members" }
func (StandbySourceRequest) Command() string { return "create-standby" }

func (NodeStatusRequest) Validate() error    { return nil }
func (ClusterStatusRequest) Validate() error { return nil }
func (ResumeRequest) Validate() error        { return nil }
func (StopClusterRequest) Validate() error   { return nil }
func (ResetMembersRequest) Validate() error  { return nil }
func (StandbySourceRequest) Validate() error { return nil }

func (r AllowNodeRequest) Validate() error    { return checkNode(r.Node) }
func (r DisallowNodeRequest) Validate() error { return checkNode(r.Node) }

func (r SetPriorityRequest) Validate() error {
	if err := checkNode(r.Node); err != nil {
		return err
	}
	if r.Priority < 0 {
		return priorityError(strconv.Itoa(r.Priority))
	}
	return nil
}

func (r PromoteRequest) Validate() error {
	if !r.Switchover {
		switch {
		case r.SourceNode.IsValid():
			return errors.New("-sourcenode is only valid with -switchover")
		case r.Quiet:
			return errors.New("-quiet is only valid with -switchover")
		}
	}
	return nil
}

// requests maps each verb to the decoder of its request type.
var requests = map[string]func(params json.RawMessage) (Request, error){}

func init() {
	known[NodeStatusRequest]()
	known[ClusterStatusRequest]()
	known[AllowNodeRequest]()
	known[DisallowNodeRequest]()
	known[SetPriorityRequest]()
	known[PromoteRequest]()
	known[ResumeRequest]()
	known[StopClusterRequest]()
	known[ResetMembersRequest]()
	known[StandbySourceRequest]()
}

func known[T Request]() {
	var zero T
	requests[zero.Command()] = decodeAs[T]
}

// decodeAs reads params into a T, refusing unknown fields so that a
// misspelt one is not silently dropped.
func decodeAs[T Request](params json.RawMessage) (Request, error) {
	var r T
	if len(params) > 0 {
		dec := json.NewDecoder(bytes.NewReader(params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// envelope is a request on the wire: one JSON document per line, so the
// protocol can still be driven by hand with socat.
type envelope struct {
	V       int             `json:"v"`
	Command string          `json:"command"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// EncodeRequest is the wire form of req, newline terminated.
func EncodeRequest(req Request) ([]byte, error) {
	params, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", req.Command(), err)
	}
	b, err := json.Marshal(envelope{V: ProtocolVersion, Command: req.Command(), Params: params})
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", req.Command(), err)
	}
	return append(b, '\n'), nil
}

// VersionError is a request of another protocol version.
type VersionError struct{ Got int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version mismatch: agent speaks %d, command speaks %d; use the efm binary of the running agent", ProtocolVersion, e.Got)
}

// DecodeRequest is the one way a request is read off the socket: its
// version, its verb, its typed fields and Validate. The agent decodes every request
// with it, since the socket can be used without the efm command.
func DecodeRequest(line []byte) (Request, error) {
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return nil, errors.New("malformed request")
	}
	if env.V != ProtocolVersion {
		return nil, &VersionError{Got: env.V}
	}
	decode, ok := requests[env.Command]
	if !ok {
		return nil, fmt.Errorf("unknown command %q", env.Command)
	}
	req, err := decode(env.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed request: %w", env.Command, err)
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", env.Command, err)
	}
	return req, nil
}

// ParseNode reads a node's address as the operator types it: the IP of
// the node's bind.address, brackets allowed around an IPv6 address.
func ParseNode(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address (want the IP of the node's bind.address)", s)
	}
	return a, nil
}

// ParsePriority reads a set-priority value as the operator types it: a
// whole number. Its range is SetPriorityRequest.Validate's.
func ParsePriority(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, priorityError(s)
	}
	return p, nil
}

func priorityError(s string) error {
	return fmt.Errorf("priority %q is not a whole number of 0 or more (1 = first to promote, 0 = never)", s)
}

func checkNode(a netip.Addr) error {
	if !a.IsValid() {
		return errors.New("no node address (want the IP of the node's bind.address)")
	}
	return nil
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
