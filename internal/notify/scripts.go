package notify

import (
	"fmt"
	"strings"

	"github.com/openefm/efm/internal/hooks"
)

// writeResult appends one script result in EFM's "Results:" layout.
func writeResult(b *strings.Builder, r hooks.Result) {
	if r.Skipped {
		return
	}
	b.WriteString("\n\nScript: ")
	b.WriteString(strings.Join(quoteArgs(r.Args), " "))
	b.WriteString("\nResults:\nexit status: ")
	fmt.Fprintf(b, "%d", r.ExitCode)
	if r.TimedOut {
		fmt.Fprintf(b, " (killed at its deadline after %s)", r.Duration.Round(1e6))
	} else if r.Err != nil && r.ExitCode < 0 {
		fmt.Fprintf(b, " (%v)", r.Err)
	}
	if out := strings.TrimRight(r.Output, "\n"); out != "" {
		b.WriteString("\n")
		b.WriteString(out)
	}
}

// quoteArgs quotes the arguments that a reader could misread.
func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return q
}
