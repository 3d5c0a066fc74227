package async

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// deliverLoop sends due webhooks until ctx ends.
func (m *Manager) deliverLoop(ctx context.Context) {
	for {
		id, ok := m.deliveries.pop(ctx)
		if !ok {
			return
		}
		if !m.claimDelivery(id) {
			// Another deliverer has it and schedules what follows.
			continue
		}
		again, wait := m.deliver(ctx, id)
		// Scheduled only once released, so the next attempt can never
		// find the id still claimed and be dropped.
		m.releaseDelivery(id)
		if again {
			m.after(ctx, wait, m.deliveries, id)
		}
	}
}

func (m *Manager) claimDelivery(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.delivering[id] {
		return false
	}
	m.delivering[id] = true
	return true
}

func (m *Manager) releaseDelivery(id string) {
	m.mu.Lock()
	delete(m.delivering, id)
	m.mu.Unlock()
}

// acquireHost takes one of host's PerHost delivery slots, if one is free.
func (m *Manager) acquireHost(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts[host] >= m.opts.PerHost {
		return false
	}
	m.hosts[host]++
	return true
}

func (m *Manager) releaseHost(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts[host]--; m.hosts[host] <= 0 {
		delete(m.hosts, host)
	}
}

// webhookBody is the body of a job's webhook: its kind's, else the native
// {"request_id", "res"}.
func webhookBody(k Kind, id string, result []byte) ([]byte, error) {
	if k.Webhook != nil {
		return k.Webhook(id, result)
	}
	return json.Marshal(payload{RequestID: id, Res: result})
}

// receiverHost is what deliveries are limited per: the URL's host name
// (or address), lower-cased; the whole URL when it has none.
func receiverHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return raw
}

// deliver makes one attempt for job id when it is due and records the
// outcome; again says whether to come back after wait. The outcome is
// stored after the POST, so a crash in between delivers again after
// restart: at least once.
func (m *Manager) deliver(ctx context.Context, id string) (again bool, wait time.Duration) {
	rec, err := m.store.get(id)
	switch {
	case errors.Is(err, ErrNotFound):
		m.log.WithField("request_id", id).Warn("async: delivery of a job that is gone")
		return false, 0
	case err != nil:
		m.log.WithError(err).WithField("request_id", id).Error("async: read job for delivery; will retry")
		return true, m.opts.Webhook.BackoffInitial
	}
	if rec.Webhook == nil || rec.Webhook.State != DeliveryPending {
		return false, 0
	}
	if wait := time.Until(rec.Webhook.NextAttempt); wait > 0 {
		return true, wait
	}
	host := receiverHost(rec.WebhookURL)
	if !m.acquireHost(host) {
		// Its receiver already has PerHost deliveries waiting on it:
		// come back shortly, without counting an attempt.
		return true, m.opts.Webhook.BackoffInitial
	}
	defer m.releaseHost(host)
	kind := m.opts.Kinds[rec.Kind]
	body, err := webhookBody(kind, id, rec.Result)
	if err != nil {
		m.log.WithError(err).WithField("request_id", id).Error("async: encode webhook")
		return false, 0
	}
	attempt := rec.Webhook.Attempts + 1
	log := m.log.WithFields(logrus.Fields{"request_id": id, "attempt": attempt})
	postErr := m.hooks.send(ctx, kind.Method, rec.WebhookURL, id, attempt, body)
	if postErr != nil && ctx.Err() != nil {
		return false, 0 // stopping: not the receiver's fault; retried after restart
	}
	now := time.Now().UTC()
	var next time.Time
	rec, err = m.store.update(id, func(r *Record) error {
		d := r.Webhook
		if d == nil {
			return errUnchanged
		}
		d.Attempts = attempt
		if postErr == nil {
			d.State, d.EndedAt, d.LastError, d.NextAttempt = DeliveryDelivered, now, "", time.Time{}
			return nil
		}
		d.LastError = postErr.Error()
		next = now.Add(backoff(attempt, m.opts.Webhook.BackoffInitial, m.opts.Webhook.BackoffMax, rand.Int64N))
		if next.After(r.FinishedAt.Add(m.opts.Webhook.RetryFor)) || (kind.MaxAttempts > 0 && attempt >= kind.MaxAttempts) {
			d.State, d.EndedAt, d.NextAttempt = DeliveryGaveUp, now, time.Time{}
			return nil
		}
		d.NextAttempt = next
		return nil
	})
	if err != nil {
		// Still pending in the store, so retried after a restart; retry
		// now too, after the shortest backoff.
		log.WithError(err).Error("async: store delivery outcome")
		return true, m.opts.Webhook.BackoffInitial
	}
	if rec.Webhook == nil {
		return false, 0
	}
	switch rec.Webhook.State {
	case DeliveryDelivered:
		m.delivered.Add(1)
		log.Debug("webhook delivered")
	case DeliveryGaveUp:
		m.failedDeliveries.Add(1)
		m.gaveUp.Add(1)
		log.WithError(postErr).Warn("webhook given up")
	default:
		m.failedDeliveries.Add(1)
		log.WithError(postErr).WithField("retry_in", time.Until(next).Round(time.Millisecond)).Info("webhook failed; will retry")
		return true, time.Until(next)
	}
	return false, 0
}
