package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pecan-judge/pecan/messages"
)

// The messages below never leave this process (they are between the
// router, the supervisor and the sandbox actors of one node), so they are
// plain Go structs. Anything that may cross a node boundary is in
// messages/.

// job is one ExecuteRequest travelling from the router to a sandbox
// actor, with the requester so the sandbox actor can answer directly.
type job struct {
	req     *messages.ExecuteRequest
	replyTo *actor.PID
	// attempts counts sandboxes that died under this job.
	attempts int
	// avoid is the sandbox actor the job failed on; a retry prefers
	// another one.
	avoid *actor.PID
	// lastErr says why the previous attempt failed.
	lastErr string
	// member is the address of the cluster member running the job for
	// this node, while it does; avoidMember is one that lost it.
	member, avoidMember string
}

// expired reports whether nobody waits for the job any more.
func (j *job) expired(now time.Time) bool {
	d := j.req.GetDeadlineUnixMs()
	return d > 0 && now.UnixMilli() >= d
}

// deadline is the requester's deadline, or zero.
func (j *job) deadline() time.Time {
	if d := j.req.GetDeadlineUnixMs(); d > 0 {
		return time.UnixMilli(d)
	}
	return time.Time{}
}

// sandboxState is what a sandbox actor tells the router about itself.
type sandboxState struct {
	pid       *actor.PID
	state     state
	sandboxID string
	reason    string
	// retry is the job the sandbox died under, not answered yet.
	retry *job
}

type state int

const (
	stateStarting state = iota
	stateIdle
	stateBusy
	stateBroken
)

func (s state) String() string {
	switch s {
	case stateStarting:
		return "starting"
	case stateIdle:
		return "idle"
	case stateBusy:
		return "busy"
	case stateBroken:
		return "broken"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// sandboxRestarted is sent by the supervision strategy for every restart
// it performs, so the status shows restarts.
type sandboxRestarted struct{}

// slotVacant is sent by the supervisor when a sandbox actor was stopped
// for good (restart storm): the router forgets it and counts a vacancy
// until the supervisor fills the slot again.
type slotVacant struct {
	pid    *actor.PID
	reason string
}

// slotFilled is sent by the supervisor when it respawned a vacant slot.
type slotFilled struct{}

// statusRequest asks the router for a messages.PoolStatus.
type statusRequest struct{}

// drain tells the router the pool is stopping: answer every queued
// request and refuse new ones, so nobody waits on a pool that is going
// away. The router answers with drained.
type drain struct{}
type drained struct{}

// respawn is the supervisor's timer firing for a vacant slot.
type respawn struct{ slot int }

// sandboxFailure is the panic value of a failing sandbox actor: it names
// the sandbox so the supervision log line can.
type sandboxFailure struct {
	sandboxID string
	reason    string
}

func (f *sandboxFailure) Error() string {
	return fmt.Sprintf("sandbox %s failed: %s", f.sandboxID, f.reason)
}

// joinCluster tells the router its node's remoting address and name.
type joinCluster struct{ address, node string }

// membersChanged is the cluster glue's list of compatible members other
// than this node, sent whenever the topology changes.
type membersChanged struct{ addresses []string }

// endpointLost says the connection to a member broke: the jobs it runs
// for this node are presumed lost.
type endpointLost struct{ address string }

// announceTick makes the router announce its status to every member even
// if it did not change: the announcements double as heartbeats.
type announceTick struct{}

// submitWithProgress is a whole submission whose requester, in this
// process, hears of each test as its result arrives.
type submitWithProgress struct {
	req      *messages.ExecuteRequest
	progress Progress
}
