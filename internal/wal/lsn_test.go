package wal

import (
	"encoding/json"
	"testing"
)

func TestParseLSN(t *testing.T) {
	tests := []struct {
		in      string
		want    LSN
		wantErr bool
	}{
		{"0/0", 0, false},
		{"16/B374D848", 0x16_B374D848, false},
		{"FFFFFFFF/FFFFFFFF", 0xFFFFFFFF_FFFFFFFF, false},
		{"0/3000060", 0x3000060, false},
		{" 1/0 ", 1 << 32, false},
		{"a/b", 0xA_0000000B, false},
		{"", 0, true},
		{"16", 0, true},
		{"/1", 0, true},
		{"1/", 0, true},
		{"G/1", 0, true},
		{"1/2/3", 0, true},
		{"100000000/0", 0, true},
		{"-1/0", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLSN(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseLSN(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseLSN(%q) = %#x, want %#x", tt.in, uint64(got), uint64(tt.want))
		}
		if !tt.wantErr {
			back, err := ParseLSN(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q via %q = %v, %v", tt.in, got.String(), back, err)
			}
		}
	}
}

func TestLSNString(t *testing.T) {
	if got := LSN(0x16_B374D848).String(); got != "16/B374D848" {
		t.Errorf("String = %q, want 16/B374D848", got)
	}
	if got := Invalid.String(); got != "0/0" {
		t.Errorf("String = %q, want 0/0", got)
	}
}

// Comparing the printed forms as strings orders these wrongly (EFM 4.5's
// bug); the numbers must not.
func TestLSNCompareNumerically(t *testing.T) {
	tests := []struct{ lo, hi string }{
		{"9/0", "10/0"},
		{"0/FFFFFFFF", "1/0"},
		{"0/9000000", "0/10000000"},
		{"2/A", "2/1A"},
		{"0/0", "0/1"},
	}
	for _, tt := range tests {
		lo, hi := mustLSN(t, tt.lo), mustLSN(t, tt.hi)
		if !(lo < hi) {
			t.Errorf("%s < %s is false", tt.lo, tt.hi)
		}
	}
}

func TestLSNJSON(t *testing.T) {
	b, err := json.Marshal(struct{ L LSN }{0x1_00000010})
	if err != nil || string(b) != `{"L":"1/10"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ L LSN }
	if err := json.Unmarshal([]byte(`{"L":"16/B374D848"}`), &v); err != nil || v.L != 0x16_B374D848 {
		t.Fatalf("Unmarshal = %v, %v", v.L, err)
	}
	if err := json.Unmarshal([]byte(`{"L":"nope"}`), &v); err == nil {
		t.Fatal("Unmarshal of a bad LSN succeeded")
	}
}

func mustLSN(t *testing.T, s string) LSN {
	t.Helper()
	l, err := ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
