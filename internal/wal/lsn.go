// Package wal holds PostgreSQL's write-ahead-log position type, shared by
// the failover core (which compares positions to choose whom to promote)
// and the PostgreSQL access code (which reads them).
package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL write-ahead-log position. PostgreSQL prints it as two
// hexadecimal halves "X/Y"; comparing those strings is wrong (EFM 4.5 had
// exactly that bug: "0/A" sorted after "0/10"), so positions are kept as one
// 64-bit number and compared numerically with the ordinary operators.
type LSN uint64

// Invalid is the zero position, what PostgreSQL calls 0/0: "unknown".
const Invalid LSN = 0

// ParseLSN parses PostgreSQL's "X/Y" form, for example "16/B374D848".
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("parse LSN %q: want two hexadecimal halves of at most 8 digits as in 16/B374D848", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: high half: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: low half: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String prints the position the way PostgreSQL does ("16/B374D848").
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF)
}

// MarshalText makes LSNs print as "X/Y" in JSON and logs.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText accepts the "X/Y" form.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
