// Package output captures a run's stdout and stderr up to a limit.
package output

import (
	"io"
	"os"
)

// Capture reads one output stream of a run, keeping at most limit bytes.
// When the program writes more, onExceed is called once (the caller kills
// the run) and the rest is drained so the writer never blocks on a full
// pipe while it is being killed.
type Capture struct {
	buf      []byte
	exceeded bool
	done     chan struct{}
}

// Start reads r in the background until it closes.
func Start(r *os.File, limit int64, onExceed func()) *Capture {
	c := &Capture{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer r.Close()
		b, _ := io.ReadAll(io.LimitReader(r, limit+1))
		if int64(len(b)) > limit {
			c.exceeded = true
			b = b[:limit]
			onExceed()
			_, _ = io.Copy(io.Discard, r)
		}
		c.buf = b
	}()
	return c
}

// Wait returns what was captured once the stream has closed.
func (c *Capture) Wait() ([]byte, bool) {
	<-c.done
	return c.buf, c.exceeded
}
