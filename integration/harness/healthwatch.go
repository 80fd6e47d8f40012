package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Answer is one request to an agent's health endpoint.
type Answer struct {
	Start, End time.Time
	Code       int    // 0 when no answer came
	Err        string // why no answer came
}

// HealthWatch asks one agent's health endpoint for one path every
// interval, from inside a host's namespace (the agent's own, to keep asking
// when its link is cut), and keeps every answer.
type HealthWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	answers []Answer
}

// WatchHealth starts asking target's agent for path from inside from every
// 20 ms, until Stop or tb's cleanup.
func (c *Cluster) WatchHealth(from, target *Host, path string) *HealthWatch {
	ctx, cancel := context.WithCancel(context.Background())
	hw := &HealthWatch{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{
		Timeout:   500 * time.Millisecond,
		Transport: &http.Transport{DialContext: from.DialContext, DisableKeepAlives: true},
	}
	url := "http://" + net.JoinHostPort(target.Addr.String(), strconv.Itoa(HealthPort)) + path
	go func() {
		defer close(hw.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			a := Answer{Start: time.Now()}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err == nil {
				a.Code = resp.StatusCode
				resp.Body.Close()
			} else {
				a.Err = err.Error()
			}
			a.End = time.Now()
			if ctx.Err() != nil {
				return // cut short by Stop: not an answer
			}
			hw.mu.Lock()
			hw.answers = append(hw.answers, a)
			hw.mu.Unlock()
		}
	}()
	c.tb.Cleanup(func() { hw.Stop() })
	return hw
}

// WaitCode waits until an answer with code came to a request sent after
// since, or timeout passes; the watch goes on either way.
func (hw *HealthWatch) WaitCode(ctx context.Context, code int, since time.Time, timeout time.Duration) error {
	return Eventually(ctx, timeout, 20*time.Millisecond, func(context.Context) (bool, error) {
		hw.mu.Lock()
		defer hw.mu.Unlock()
		for i := len(hw.answers) - 1; i >= 0 && hw.answers[i].Start.After(since); i-- {
			if hw.answers[i].Code == code {
				return true, nil
			}
		}
		return false, fmt.Errorf("no %d answer to a request sent after %s", code, since.Format("15:04:05.000"))
	})
}

// Stop stops asking and returns every answer; safe to call again.
func (hw *HealthWatch) Stop() []Answer {
	hw.cancel()
	<-hw.done
	hw.mu.Lock()
	defer hw.mu.Unlock()
	return append([]Answer(nil), hw.answers...)
}
