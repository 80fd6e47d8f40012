package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestRequestsRoundTrip: every request comes off the wire as the value
// that was sent, typed.
func TestRequestsRoundTrip(t *testing.T) {
	n := netip.MustParseAddr("10.0.0.2")
	for _, req := range []Request{
		NodeStatusRequest{}, ClusterStatusRequest{}, AllowNodeRequest{Node: n}, DisallowNodeRequest{Node: n},
		SetPriorityRequest{Node: n, Priority: 0}, SetPriorityRequest{Node: n, Priority: 3},
		PromoteRequest{}, PromoteRequest{NoScripts: true},
		PromoteRequest{Switchover: true, Quiet: true, NoScripts: true, SourceNode: netip.MustParseAddr("fe80::1")},
		ResumeRequest{}, StopClusterRequest{}, ResetMembersRequest{}, StandbySourceRequest{},
	} {
		b, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("%#v: %v", req, err)
		}
		got, err := DecodeRequest(b)
		if err != nil || got != req {
			t.Errorf("%s: sent %#v, decoded %#v (err %v)", b, req, got, err)
		}
	}
	if len(requests) != 10 {
		t.Errorf("%d request types known to Decode, want the 10 above", len(requests))
	}
}

// TestDecodeRefuses: what arrives on the socket is checked by the same
// rules whoever sent it (the socket can be used without the efm command),
// and the error names the verb and the value at fault.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
	}{
		{"not JSON", `set-priority 10.0.0.2 1`, []string{"malformed request"}},
		{"another protocol version", `{"v":1,"command":"set-priority","args":["10.0.0.2","1"]}`,
			[]string{"protocol version mismatch: agent speaks 2, command speaks 1"}},
		{"an unknown verb", `{"v":2,"command":"frobnicate"}`, []string{`unknown command "frobnicate"`}},
		{"a negative priority", `{"v":2,"command":"set-priority","params":{"node":"10.0.0.2","priority":-1}}`,
			[]string{"set-priority: ", `"-1"`, "0 or more"}},
		{"a priority that is not a number", `{"v":2,"command":"set-priority","params":{"node":"10.0.0.2","priority":"first"}}`,
			[]string{"set-priority: malformed request", "priority"}},
		{"not an address", `{"v":2,"command":"set-priority","params":{"node":"n2","priority":1}}`,
			[]string{"set-priority: malformed request", `"n2"`}},
		{"no address", `{"v":2,"command":"allow-node","params":{}}`, []string{"allow-node: no node address"}},
		{"no address to disallow", `{"v":2,"command":"disallow-node"}`, []string{"disallow-node: no node address"}},
		{"a misspelt field", `{"v":2,"command":"promote","params":{"switchovr":true}}`,
			[]string{"promote: malformed request", "switchovr"}},
		{"-sourcenode without -switchover", `{"v":2,"command":"promote","params":{"sourcenode":"10.0.0.3"}}`,
			[]string{"promote: -sourcenode is only valid with -switchover"}},
		{"-quiet without -switchover", `{"v":2,"command":"promote","params":{"quiet":true}}`,
			[]string{"promote: -quiet is only valid with -switchover"}},
	}
	for _, tc := range tests {
		req, err := DecodeRequest([]byte(tc.line + "\n"))
		if err == nil {
			t.Errorf("%s: accepted as %#v", tc.name, req)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
}

// TestParseCommandLine: the command line's words become typed values by
// the rules the agent applies to what it decodes.
func TestParseCommandLine(t *testing.T) {
	if a, err := ParseNode("[fe80::1]"); err != nil || a != netip.MustParseAddr("fe80::1") {
		t.Errorf("ParseNode([fe80::1]) = %v, %v", a, err)
	}
	if _, err := ParseNode("n2"); err == nil || !strings.Contains(err.Error(), `"n2" is not an IP address`) {
		t.Errorf("ParseNode(n2): %v", err)
	}
	for s, want := range map[string]int{"0": 0, "1": 1, "12": 12, "-1": -1} {
		if p, err := ParsePriority(s); err != nil || p != want {
			t.Errorf("ParsePriority(%q) = %d, %v", s, p, err)
		}
	}
	for _, s := range []string{"first", "1.5", ""} {
		if _, err := ParsePriority(s); err == nil || !strings.Contains(err.Error(), "priority "+`"`+s+`" is not a whole number of 0 or more`) {
			t.Errorf("ParsePriority(%q): %v", s, err)
		}
	}
	// A negative number is a whole number; its range is the request's.
	req := SetPriorityRequest{Node: netip.MustParseAddr("10.0.0.2"), Priority: -1}
	if err := req.Validate(); err == nil || !strings.Contains(err.Error(), `priority "-1" is not a whole number of 0 or more`) {
		t.Errorf("%+v.Validate(): %v", req, err)
	}
}

// TestVersionRefusedOnTheSocket: an agent answers a command of another
// protocol version with the mismatch, and never calls its handler.
func TestVersionRefusedOnTheSocket(t *testing.T) {
	called := false
	path := startServer(t, HandlerFunc(func(context.Context, Request) (any, error) { called = true; return "done", nil }))
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`{"v":1,"command":"stop-cluster"}` + "\n"))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.OK || called || resp.V != ProtocolVersion || !strings.Contains(resp.Error, "use the efm binary of the running agent") {
		t.Errorf("request of version 1: %s (handler called: %v); want the version refusal", line, called)
	}
}
