package core

import "testing"

func TestParseLSN(t *testing.T) {
	tests := []struct {
		in   string
		want LSN
		err  bool
	}{
		{"0/0", 0, false},
		{"0/A", 10, false},
		{"0/10", 16, false},
		{"1/0", 1 << 32, false},
		{"16/B374D848", 0x16B374D848, false},
		{"garbage", 0, true},
		{"1/", 0, true},
		{"G/1", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseLSN(tc.in)
		if (err != nil) != tc.err {
			t.Fatalf("ParseLSN(%q) error = %v, want error %v", tc.in, err, tc.err)
		}
		if got != tc.want {
			t.Errorf("ParseLSN(%q) = %d, want %d", tc.in, got, tc.want)
		}
		if !tc.err && got.String() != tc.in && tc.in != "16/B374D848" {
			t.Errorf("LSN(%d).String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	a, _ := ParseLSN("0/A")
	b, _ := ParseLSN("0/10")
	if !(a < b) {
		t.Errorf("0/A must compare below 0/10 numerically")
	}
}

func TestDecodeRefusesOtherVersion(t *testing.T) {
	b := []byte(`{"v":2,"c":"efm","t":"heartbeat","f":"10.0.0.1","e":1}`)
	_, err := Decode(b, "efm")
	ve, ok := err.(*VersionError)
	if !ok || ve.Got != 2 {
		t.Fatalf("Decode of v2 message: err = %v, want *VersionError{Got: 2}", err)
	}
	m := Message{Cluster: "efm", Type: MsgVoteReq, From: "10.0.0.2", Epoch: 7, Target: "10.0.0.2"}
	got, err := Decode(Encode(m), "efm")
	if err != nil {
		t.Fatal(err)
	}
	m.V = ProtocolVersion
	if got.Type != m.Type || got.Epoch != 7 || got.V != ProtocolVersion {
		t.Errorf("round trip = %+v, want %+v", got, m)
	}
	if _, err := Decode(Encode(m), "other"); err == nil {
		t.Errorf("Decode accepted a message of another cluster")
	}
}
