package config

import (
	"strings"

	"github.com/magiconair/properties"
)

// repeatedKeys returns the keys written more than once in data, in order
// of first appearance, with their count. Java properties (and so EFM) keep
// the last value without a word; a key repeated by a template and a manual
// edit is a classic way to run with a value nobody meant, so we say so.
func repeatedKeys(data []byte) ([]string, map[string]int) {
	count := make(map[string]int)
	var order []string
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	for _, line := range logicalLines(string(data)) {
		p, err := l.LoadBytes([]byte(line))
		if err != nil {
			continue // the whole-file parse reports it
		}
		for _, k := range p.Keys() {
			if count[k] == 1 {
				order = append(order, k)
			}
			count[k]++
		}
	}
	return order, count
}

// logicalLines splits a properties file into its entries: a line ending in
// an odd number of backslashes continues on the next one, except in a
// comment. Blank lines and comments are dropped.
func logicalLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var out []string
	var cur strings.Builder
	continuing := false
	for _, line := range strings.Split(s, "\n") {
		if !continuing {
			t := strings.TrimLeft(line, " \t\f")
			if t == "" || t[0] == '#' || t[0] == '!' {
				continue
			}
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		n := len(line) - len(strings.TrimRight(line, `\`))
		continuing = n%2 == 1
		if !continuing {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
