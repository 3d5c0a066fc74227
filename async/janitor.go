package async

import (
	"context"
	"time"
)

// janitorEvery is how often expired results are looked for: a tenth of
// the retention, within [1 s, 1 min], so a result outlives its TTL by at
// most a tenth.
func janitorEvery(ttl time.Duration) time.Duration {
	return min(max(ttl/10, time.Second), time.Minute)
}

// janitor removes finished jobs whose retention has ended, until ctx ends.
func (m *Manager) janitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery(m.opts.ResultTTL))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sweep(time.Now())
		}
	}
}

// sweep removes the jobs expired at now; it returns how many.
func (m *Manager) sweep(now time.Time) int {
	expired, err := m.store.expired(now)
	if err != nil {
		m.log.WithError(err).Error("async: list expired jobs")
		return 0
	}
	if len(expired) == 0 {
		return 0
	}
	n, err := m.store.remove(expired)
	if err != nil {
		m.log.WithError(err).Error("async: remove expired jobs")
	}
	if n > 0 {
		m.log.WithField("removed", n).Debug("async: expired results removed")
	}
	return n
}
