package hooks

import (
	"fmt"
	"sync"
)

// boundedBuffer keeps the first limit bytes written to it and counts the
// rest, so a chatty script cannot grow the agent's memory. It is safe for the
// two goroutines os/exec uses to copy stdout and stderr.
type boundedBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	b.dropped += int64(len(p) - max(room, 0))
	// Report the whole write as consumed: a short write would make os/exec
	// stop copying and the script could block on a full pipe.
	return len(p), nil
}

// String returns what was kept, with a marker when bytes were dropped.
func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return string(b.buf)
	}
	return fmt.Sprintf("%s\n[... %d more bytes of output truncated]", b.buf, b.dropped)
}

func (b *boundedBuffer) truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped > 0
}
