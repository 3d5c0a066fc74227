package async

import (
	"context"
	"sync"
)

// fifo is an unbounded in-memory queue of job ids shared by several
// consumers. It is only an index: the store says what each job is, so
// a duplicate or stale id is harmless (consumers recheck the record).
// The bound on jobs is enforced at submission, against the store.
type fifo struct {
	mu    sync.Mutex
	items []string
	// notify holds one token while items may be non-empty; a consumer
	// that takes an item and leaves more behind passes the token on.
	notify chan struct{}
}

func newFIFO() *fifo { return &fifo{notify: make(chan struct{}, 1)} }

func (q *fifo) push(id string) {
	q.mu.Lock()
	q.items = append(q.items, id)
	q.mu.Unlock()
	q.signal()
}

func (q *fifo) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop waits for an id until ctx ends.
func (q *fifo) pop(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			id := q.items[0]
			q.items[0] = ""
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return id, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-q.notify:
		}
	}
}

func (q *fifo) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
