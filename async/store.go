package async

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is where a job is in its life.
type State string

const (
	StateQueued  State = "queued"
	StateRunning State = "running"
	StateDone    State = "done"
)

// DeliveryState is where a job's webhook delivery is.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryGaveUp    DeliveryState = "gave_up"
)

// Record is one job as kept in the store. It is stored as JSON: the
// request itself is the marshalled protobuf, so it round-trips exactly.
type Record struct {
	ID    string `json:"id"`
	Seq   uint64 `json:"seq"` // submission order, for a fair queue after restart
	State State  `json:"state"`
	// Request is the marshalled messages.ExecuteRequest, without deadline.
	Request []byte `json:"request"`
	// Budget is how long one run may take once a worker starts it.
	Budget         time.Duration `json:"budget"`
	WebhookURL     string        `json:"webhook_url,omitempty"`
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
	// Runs counts runs that failed without a verdict (internal faults);
	// a BUSY pool does not count.
	Runs       int       `json:"runs"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Result is the rendered answer, exactly what the client receives.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is set when the job finished without a verdict.
	Error   string    `json:"error,omitempty"`
	Webhook *Delivery `json:"webhook,omitempty"`
	// Kind names the Options.Kinds entry that renders the job and its
	// webhook; empty is the native API's.
	Kind string `json:"kind,omitempty"`
	// Meta is the submitting transport's own data, kept with the job.
	Meta []byte `json:"meta,omitempty"`
	// Retention is how long the job is kept once final; 0 is the store's
	// default (result_ttl).
	Retention time.Duration `json:"retention,omitempty"`
}

// Delivery is the state of a job's webhook.
type Delivery struct {
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	LastError   string        `json:"last_error,omitempty"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	// EndedAt is when it was delivered or given up.
	EndedAt time.Time `json:"ended_at,omitzero"`
}

// expiresAt is when a final job's retention ends: finalAt plus its own
// retention, or def when it has none.
func (r *Record) expiresAt(def time.Duration) (time.Time, bool) {
	at, ok := r.finalAt()
	if !ok {
		return time.Time{}, false
	}
	ttl := def
	if r.Retention > 0 {
		ttl = r.Retention
	}
	return at.Add(ttl), true
}

// finalAt is when a job reached its final state, from which its retention
// counts: when it finished, or when its webhook was delivered or given up.
// A job not done, or whose webhook is pending, has none.
func (r *Record) finalAt() (time.Time, bool) {
	if r.State != StateDone {
		return time.Time{}, false
	}
	if r.Webhook == nil {
		return r.FinishedAt, true
	}
	if r.Webhook.State == DeliveryPending {
		return time.Time{}, false
	}
	return r.Webhook.EndedAt, true
}

var (
	bucketJobs = []byte("jobs")
	bucketIdem = []byte("idempotency")
	// bucketFinal indexes the jobs in their final state by the end of
	// their retention, so that the janitor finds the expired ones without
	// reading any record (jobs may have retentions of their own, so the
	// index holds the end, not the start): the key is that time in Unix
	// nanoseconds (8 bytes, big-endian, so
	// keys sort by time) followed by the job id; the value is the job's
	// idempotency key, which goes with it.
	bucketFinal = []byte("final")
)

// finalKey is a job's key in bucketFinal. Times outside what Unix
// nanoseconds hold (a zero time, say) sort first or last.
func finalKey(at time.Time, id string) []byte {
	var ns uint64
	switch {
	case at.Before(time.Unix(0, 0)):
	case at.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = uint64(at.UnixNano())
	}
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, ns)
	return append(k, id...)
}

// finalEntry is one job of bucketFinal.
type finalEntry struct {
	key            []byte
	at             time.Time
	id             string
	idempotencyKey string
}

func parseFinal(k, v []byte) (finalEntry, bool) {
	if len(k) <= 8 {
		return finalEntry{}, false
	}
	return finalEntry{
		key:            bytes.Clone(k),
		at:             time.Unix(0, int64(binary.BigEndian.Uint64(k))),
		id:             string(k[8:]),
		idempotencyKey: string(v),
	}, true
}

// indexFinal puts r in bucketFinal when it is in its final state.
func (s *store) indexFinal(final *bolt.Bucket, r *Record) error {
	at, ok := r.expiresAt(s.ttl)
	if !ok {
		return nil
	}
	return final.Put(finalKey(at, r.ID), []byte(r.IdempotencyKey))
}

// reindex moves r's entry in bucketFinal from where it was, when r was
// final at was (wasFinal), to where r is now.
func (s *store) reindex(final *bolt.Bucket, r *Record, was time.Time, wasFinal bool) error {
	if wasFinal {
		if err := final.Delete(finalKey(was, r.ID)); err != nil {
			return err
		}
	}
	return s.indexFinal(final, r)
}

// ErrNotFound is returned for a job id the store does not hold (never
// submitted, or removed after result_ttl).
var ErrNotFound = errors.New("async: no such job")

// errUnchanged lets an update function leave the record as it is.
var errUnchanged = errors.New("async: record unchanged")

// lockTimeout bounds the wait for bbolt's file lock: another process
// holding it is a configuration error, not something to wait out.
const lockTimeout = time.Second

// store is the bbolt file of the queue. bbolt serialises writers and
// fsyncs every commit, so a job is durable once create returns.
type store struct {
	db   *bolt.DB
	path string
	// ttl is the retention of a job without one of its own.
	ttl time.Duration
}

func openStore(path string, ttl time.Duration) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("async store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("async store %s: locked for %s, in use by another pecan? (%w)", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("async store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketIdem, bucketFinal} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("async store %s: create buckets: %w", path, err)
	}
	return &store{db: db, path: path, ttl: ttl}, nil
}

func (s *store) close() error { return s.db.Close() }

// create stores a new job. When key is set and already names a job, that
// job's id is returned instead and nothing is written. admit is called
// inside the transaction, only for a job that would really be created, so
// a bound on the queue can refuse it atomically.
func (s *store) create(r *Record, admit func() error) (existing string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		jobs, idem := tx.Bucket(bucketJobs), tx.Bucket(bucketIdem)
		if r.IdempotencyKey != "" {
			if id := idem.Get([]byte(r.IdempotencyKey)); id != nil && jobs.Get(id) != nil {
				existing = string(id)
				return nil
			}
		}
		if err := admit(); err != nil {
			return err
		}
		seq, err := jobs.NextSequence()
		if err != nil {
			return err
		}
		r.Seq = seq
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := jobs.Put([]byte(r.ID), b); err != nil {
			return err
		}
		if err := s.indexFinal(tx.Bucket(bucketFinal), r); err != nil {
			return err
		}
		if r.IdempotencyKey != "" {
			return idem.Put([]byte(r.IdempotencyKey), []byte(r.ID))
		}
		return nil
	})
	return existing, err
}

// get reads one job.
func (s *store) get(id string) (*Record, error) {
	var r *Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = decode(tx.Bucket(bucketJobs).Get([]byte(id)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	return r, nil
}

// update applies fn to the job in one transaction and returns the record
// as stored. fn returning errUnchanged writes nothing and is no error.
func (s *store) update(id string, fn func(*Record) error) (*Record, error) {
	var r *Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		var err error
		if r, err = decode(jobs.Get([]byte(id))); err != nil {
			return err
		}
		was, wasFinal := r.expiresAt(s.ttl)
		if err := fn(r); err != nil {
			return err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := jobs.Put([]byte(id), b); err != nil {
			return err
		}
		return s.reindex(tx.Bucket(bucketFinal), r, was, wasFinal)
	})
	if errors.Is(err, errUnchanged) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	return r, nil
}

// restore runs once at start: jobs that were running when the last
// process died go back to the queue (they run again: at least once), and
// every job is returned, in submission order, to rebuild the in-memory
// queues. bucketFinal is rebuilt from the records, so a store written
// before it existed gets it too.
func (s *store) restore() ([]*Record, error) {
	var all []*Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		if err := tx.DeleteBucket(bucketFinal); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		final, err := tx.CreateBucket(bucketFinal)
		if err != nil {
			return err
		}
		var requeued []*Record
		err = jobs.ForEach(func(k, v []byte) error {
			r, err := decode(v)
			if err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if r.State == StateRunning {
				// The run ended with the server; it counts, so a job
				// that crashes the server is not run forever.
				r.State = StateQueued
				r.Runs++
				requeued = append(requeued, r)
			}
			all = append(all, r)
			return nil
		})
		if err != nil {
			return err
		}
		// Writing while ForEach iterates is not allowed in bbolt.
		for _, r := range requeued {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := jobs.Put([]byte(r.ID), b); err != nil {
				return err
			}
		}
		for _, r := range all {
			if err := s.indexFinal(final, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("async store %s: restore: %w", s.path, err)
	}
	sortBySeq(all)
	return all, nil
}

// expired lists the jobs whose retention ended before now, oldest first.
// It reads bucketFinal only, which is in time order, up to the first entry
// still retained: no record is read, however large.
func (s *store) expired(now time.Time) ([]finalEntry, error) {
	var out []finalEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFinal).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, ok := parseFinal(k, v)
			if !ok {
				return fmt.Errorf("index entry %x: malformed", k)
			}
			if e.at.After(now) {
				break
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// remove deletes the jobs of entries from expired, with their
// idempotency keys. An entry no longer in the index (its job's final time
// moved since, or it is gone) is skipped.
func (s *store) remove(entries []finalEntry) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		jobs, idem, final := tx.Bucket(bucketJobs), tx.Bucket(bucketIdem), tx.Bucket(bucketFinal)
		for _, e := range entries {
			if final.Get(e.key) == nil {
				continue
			}
			if e.idempotencyKey != "" && string(idem.Get([]byte(e.idempotencyKey))) == e.id {
				if err := idem.Delete([]byte(e.idempotencyKey)); err != nil {
					return err
				}
			}
			if err := jobs.Delete([]byte(e.id)); err != nil {
				return err
			}
			if err := final.Delete(e.key); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func decode(b []byte) (*Record, error) {
	if b == nil {
		return nil, ErrNotFound
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

func sortBySeq(rs []*Record) {
	slices.SortFunc(rs, func(a, b *Record) int { return cmp.Compare(a.Seq, b.Seq) })
}
