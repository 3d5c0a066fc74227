package container

import (
	"fmt"
	"sync"
)

// UIDsPerBackend is how many uids the backend's sandboxes run as: one
// each, from the configured uid down. There is no user namespace, so
// what the kernel counts per user (POSIX message queue bytes, pipe
// buffers, pending signals) would otherwise be shared by every sandbox's
// job at once: one job could use it up for another, or signal through it.
const UIDsPerBackend = 64

// uidPool hands each live sandbox a uid of its own.
type uidPool struct {
	mu    sync.Mutex
	first int // the highest uid; the pool goes down from it
	used  [UIDsPerBackend]bool
}

// take is the highest free uid, or an error when every one is in use.
func (p *uidPool) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, inUse := range p.used {
		if !inUse {
			p.used[i] = true
			return p.first - i, nil
		}
	}
	return 0, fmt.Errorf("all %d sandbox uids (%d down to %d) are in use", UIDsPerBackend, p.first, p.first-UIDsPerBackend+1)
}

// give returns uid to the pool.
func (p *uidPool) give(uid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.first - uid; i >= 0 && i < UIDsPerBackend {
		p.used[i] = false
	}
}
