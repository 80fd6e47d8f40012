package core

import "testing"

func TestThresholds(t *testing.T) {
	tests := []struct {
		n, of             int
		half, strictMajor bool
	}{
		{n: 0, of: 0, half: true, strictMajor: false},
		{n: 1, of: 1, half: true, strictMajor: true},
		{n: 1, of: 2, half: true, strictMajor: false},
		{n: 2, of: 2, half: true, strictMajor: true},
		{n: 1, of: 3, half: false, strictMajor: false},
		{n: 2, of: 3, half: true, strictMajor: true},
		{n: 1, of: 4, half: false, strictMajor: false},
		{n: 2, of: 4, half: true, strictMajor: false}, // the even split
		{n: 3, of: 4, half: true, strictMajor: true},
		{n: 2, of: 5, half: false, strictMajor: false},
		{n: 3, of: 5, half: true, strictMajor: true},
	}
	for _, tt := range tests {
		if got := atLeastHalf(tt.n, tt.of); got != tt.half {
			t.Errorf("atLeastHalf(%d, %d) = %v, want %v", tt.n, tt.of, got, tt.half)
		}
		if got := strictMajority(tt.n, tt.of); got != tt.strictMajor {
			t.Errorf("strictMajority(%d, %d) = %v, want %v", tt.n, tt.of, got, tt.strictMajor)
		}
	}
}

// TestThresholdsIntersect checks the argument written at the thresholds:
// among `of` voters, a set of at least half and a strict majority cannot be
// disjoint (their sizes add up to more than `of`), nor can two strict
// majorities. (Two halves can: the even split, which is why the lease needs
// only half but a promotion a strict majority.)
func TestThresholdsIntersect(t *testing.T) {
	for of := 1; of <= 64; of++ {
		for a := 0; a <= of; a++ {
			for b := 0; a+b <= of; b++ { // a and b disjoint
				if atLeastHalf(a, of) && strictMajority(b, of) {
					t.Fatalf("%d voters: disjoint acknowledging half (%d) and electing majority (%d)", of, a, b)
				}
				if strictMajority(a, of) && strictMajority(b, of) {
					t.Fatalf("%d voters: two disjoint majorities (%d, %d)", of, a, b)
				}
			}
		}
	}
}
