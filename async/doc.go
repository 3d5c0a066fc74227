// Package async is Pecan's asynchronous judging (judge-single-async): a
// durable queue of jobs in an embedded bbolt store, workers that run them
// through the same Executor as synchronous requests with a bounded share
// of the pool, and webhook delivery of every result with retries, HMAC
// signatures and a guard against requests to internal addresses.
//
// Every state change is written to the store before it is acted on, so a
// job accepted once survives a crash of the server: at start, jobs that
// were running are queued again and results not yet delivered are sent
// again (at least once, always with the same request id).
//
// The package knows nothing of HTTP requests or JSON shapes of results:
// the caller hands in the ExecuteRequest and a function that renders an
// ExecuteResponse as the bytes a client should receive.
package async
