package config

import "strings"

// nearestKey returns the known key closest to key by edit distance
// (case-insensitive), or "" when none is close enough to be a typo rather
// than a different name.
func nearestKey(key string) string {
	lk := strings.ToLower(key)
	best, bestD := "", -1
	for _, name := range knownNames() {
		d := levenshtein(lk, name)
		if bestD < 0 || d < bestD {
			best, bestD = name, d
		}
	}
	// A third of the name, at least 2 edits: "vitrual.ip" and "Bind.Address"
	// match, "foo" does not match "db.bin".
	limit := max(2, len(key)/3)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// levenshtein is the edit distance between a and b, counted in bytes:
// keys are ASCII.
func levenshtein(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		// No key is that long; spare the quadratic work on junk input.
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
