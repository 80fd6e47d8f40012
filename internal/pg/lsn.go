package pg

import "github.com/openefm/efm/internal/wal"

// LSN is a write-ahead-log position, compared numerically (see wal.LSN).
type LSN = wal.LSN

// InvalidLSN is the zero position, what PostgreSQL calls 0/0: "unknown".
const InvalidLSN = wal.Invalid

// ParseLSN parses PostgreSQL's "X/Y" form, for example "16/B374D848".
func ParseLSN(s string) (LSN, error) { return wal.ParseLSN(s) }

// parseNullLSN turns a nullable text column into an LSN (NULL = InvalidLSN).
func parseNullLSN(s *string) (LSN, error) {
	if s == nil {
		return InvalidLSN, nil
	}
	return ParseLSN(*s)
}
