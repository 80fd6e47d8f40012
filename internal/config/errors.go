package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with one key (or one line of a nodes file).
// Its Error is a single line: "<file>: <key>: <what is wrong>", or
// "<file>:<line>: <what is wrong>" for a nodes file.
type Problem struct {
	File string // path of the file at fault
	Key  string // property name; empty for a nodes-file line
	Line int    // 1-based line in a nodes file; 0 for properties
	Msg  string // what is wrong and what would be accepted
}

func (p *Problem) Error() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	case p.Key != "":
		return fmt.Sprintf("%s: %s: %s", p.File, p.Key, p.Msg)
	default:
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
}

// Errors is every problem found in one file, in a stable order: bad values
// in key-table order, then unknown and legacy keys by name, then missing
// keys and contradictions. Error joins them one per line, so a caller
// prints it as is; errors.As(err, &errs) with a config.Errors gets the list.
type Errors []error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (e Errors) Unwrap() []error { return e }

// orNil returns nil for an empty list, so callers can return it directly
// without handing back a non-nil error interface holding nothing.
func (e Errors) orNil() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// problems collects Problems for one file.
type problems struct {
	file string
	errs Errors
}

func (ps *problems) add(key, format string, args ...any) {
	ps.errs = append(ps.errs, &Problem{File: ps.file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addLine(line int, format string, args ...any) {
	ps.errs = append(ps.errs, &Problem{File: ps.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}
