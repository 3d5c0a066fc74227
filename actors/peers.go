package actors

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// RouterName is the id of a pool's router in a cluster: members address
// each other's routers as PID{Address: member, Id: RouterName}.
const RouterName = "pecan-router"

// statusStale is how old a member's last status may be before its idle
// sandboxes are no longer counted on: members announce every second.
const statusStale = 3 * time.Second

// peer is the router's view of another cluster member.
type peer struct {
	address string
	router  *actor.PID
	// status is the member's last announcement, nil until the first.
	status *messages.PoolStatus
	seen   time.Time
	// idle is what this node counts on: status.Idle, less the jobs sent
	// to it since that status (the next status resets it).
	idle int32
}

// peers is the router's cluster bookkeeping: members, and the jobs they
// run for this node, so a member's death can put them back in the queue.
type peers struct {
	self    string // this node's remoting address; "" outside a cluster
	members map[string]*peer
	running map[string]*job // sent to a member, by request id
	// announced is the idle count members were last told.
	announced int32
}

func newPeers() peers {
	return peers{members: map[string]*peer{}, running: map[string]*job{}, announced: -1}
}

// isRemote reports whether a message came from another node's router,
// which hands over work only when it has none idle itself.
func (p *peers) isRemote(sender *actor.PID) bool {
	return p.self != "" && sender != nil && sender.Address != p.self
}

// pick returns the member with the most idle sandboxes for j, or nil.
func (p *peers) pick(j *job, now time.Time) *peer {
	if sub := j.req.GetSubmission(); sub != nil && sub.GetStep().GetKind() != messages.StepKind_STEP_KIND_TEST {
		// A whole submission is coordinated here, and its compile step
		// runs here, so the program is in this node's cache; its tests
		// may run anywhere (members fetch what they lack from here).
		return nil
	}
	var best *peer
	for _, m := range p.members {
		if m.status == nil || m.idle <= 0 || now.Sub(m.seen) > statusStale || m.address == j.avoidMember {
			continue
		}
		if best == nil || m.idle > best.idle {
			best = m
		}
	}
	return best
}

// sweep forgets jobs whose requester gave up: a member drops a job whose
// deadline passed without answering.
func (p *peers) sweep(now time.Time) {
	for id, j := range p.running {
		if j.expired(now) {
			delete(p.running, id)
		}
	}
}

// takeAll removes and returns every job running on a member.
func (p *peers) takeAll() []*job {
	jobs := make([]*job, 0, len(p.running))
	for id, j := range p.running {
		jobs = append(jobs, j)
		delete(p.running, id)
	}
	return jobs
}

// statuses lists self and every member that reported, by address.
func (p *peers) statuses(self *messages.PoolStatus) []*messages.PoolStatus {
	out := []*messages.PoolStatus{self}
	for _, m := range p.members {
		if m.status != nil {
			out = append(out, m.status)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Address < out[k].Address })
	return out
}

// forward hands j to member m; its answer comes back to this router.
func (r *router) forward(ctx actor.Context, m *peer, j *job) {
	m.idle--
	j.member = m.address
	if st := j.req.GetSubmission().GetStep(); st != nil && st.Origin == "" {
		st.Origin = r.peers.self
	}
	r.peers.running[j.req.GetRequestId()] = j
	r.logger.WithFields(logrus.Fields{"request_id": j.req.GetRequestId(), "member": m.address}).Debug("job handed to a member")
	ctx.Request(m.router, j.req)
}

// executeForMember takes a job another member handed over. It runs only
// on an idle sandbox: a queue here would hold work its own node may get
// to sooner, so when none is idle the member gets BUSY back and keeps it.
// Only members are served, within this node's own limits.
func (r *router) executeForMember(ctx actor.Context, j *job) {
	log := r.logger.WithFields(logrus.Fields{"request_id": j.req.GetRequestId(), "from": j.replyTo.Address})
	if _, ok := r.peers.members[j.replyTo.Address]; !ok {
		log.Warn("job from a node that is not a known member refused")
		r.fail(ctx, j, messages.Failure_FAILURE_BUSY, "not a member of this node's cluster (yet)")
		return
	}
	if err := withinLimits(j.req, r.limits); err != nil {
		log.WithError(err).Warn("member's job refused")
		r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, fmt.Sprintf("refused by %s: %v", r.node, err))
		return
	}
	if r.draining || j.expired(time.Now()) || len(r.queue) > 0 {
		r.fail(ctx, j, messages.Failure_FAILURE_BUSY, "no idle sandbox on "+r.node)
		return
	}
	e := r.pickIdle(nil)
	if e == nil {
		r.fail(ctx, j, messages.Failure_FAILURE_BUSY, "no idle sandbox on "+r.node)
		return
	}
	r.assign(ctx, e, j)
}

// withinLimits checks a member's request against this node's maxima: the
// member validated it against its own configuration, which may differ,
// and a peer is not trusted to have validated at all.
func withinLimits(req *messages.ExecuteRequest, l config.Limits) error {
	lim := req.GetLimits()
	switch {
	case lim == nil:
		return errors.New("no limits")
	case !(lim.CpuSeconds > 0 && lim.CpuSeconds <= l.MaxTime):
		return fmt.Errorf("cpu limit %v s outside (0, %v]", lim.CpuSeconds, l.MaxTime)
	case !(lim.WallSeconds > 0 && lim.WallSeconds <= l.MaxWallTime):
		return fmt.Errorf("wall limit %v s outside (0, %v]", lim.WallSeconds, l.MaxWallTime)
	case !(lim.MemoryKib > 0 && lim.MemoryKib <= l.MaxMemoryKiB):
		return fmt.Errorf("memory limit %d KiB outside (0, %d]", lim.MemoryKib, l.MaxMemoryKiB)
	case int64(len(req.GetCode())) > l.MaxCodeKiB*1024:
		return fmt.Errorf("code over %d KiB", l.MaxCodeKiB)
	case int64(len(req.GetStdin())) > l.MaxStdinKiB*1024:
		return fmt.Errorf("stdin over %d KiB", l.MaxStdinKiB)
	}
	if len(req.GetFiles()) > 0 {
		if err := plan.CheckFiles(req.GetFiles(), l.MaxFiles, l.MaxCodeKiB); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	return nil
}

// remoteDone is a member's answer to a job this router handed it.
func (r *router) remoteDone(ctx actor.Context, resp *messages.ExecuteResponse) {
	id := resp.GetRequestId()
	j, ok := r.peers.running[id]
	if !ok {
		// Retried elsewhere after the member was given up on.
		r.logger.WithField("request_id", id).Debug("late answer from a member dropped")
		return
	}
	if resp.GetNode() != j.member {
		// A late answer from a member given up on earlier (the job runs
		// elsewhere now), or one not from the member that has the job.
		r.logger.WithFields(logrus.Fields{"request_id": id, "from": resp.GetNode(), "member": j.member}).Debug("answer from another node than the job's member dropped")
		return
	}
	delete(r.peers.running, id)
	switch resp.GetFailure() {
	case messages.Failure_FAILURE_BUSY:
		// The member filled up before it heard of our job: take it back,
		// ahead of the queue, and count on that member no more until it
		// announces idle sandboxes again.
		if m := r.peers.members[j.member]; m != nil {
			m.idle = 0
		}
		j.member = ""
		switch {
		case r.draining:
			r.fail(ctx, j, messages.Failure_FAILURE_INTERNAL, "pool is stopping")
		case !j.expired(time.Now()):
			r.queue = append([]*job{j}, r.queue...)
		}
	case messages.Failure_FAILURE_INTERNAL:
		// Its sandbox failed under the job (or it refused it): one more
		// chance here or on another member, counted by this node.
		failed := j.member
		j.member, j.avoidMember = "", failed
		r.retry(ctx, j, nil, fmt.Sprintf("member %s: %s", failed, resp.GetError()))
	default:
		ctx.Send(j.replyTo, resp)
	}
	r.dispatch(ctx)
}

// peerStatus is a member's announcement of its pool.
func (r *router) peerStatus(ctx actor.Context, st *messages.PoolStatus) {
	m, ok := r.peers.members[st.GetAddress()]
	if !ok {
		// Not (yet) a compatible member in our topology.
		return
	}
	m.status, m.seen, m.idle = st, time.Now(), st.GetIdle()
	r.dispatch(ctx)
}

// setMembers replaces the member list with the cluster's compatible
// members other than this node.
func (r *router) setMembers(ctx actor.Context, addresses []string) {
	keep := make(map[string]bool, len(addresses))
	for _, a := range addresses {
		keep[a] = true
		if _, ok := r.peers.members[a]; !ok {
			r.peers.members[a] = &peer{address: a, router: actor.NewPID(a, RouterName)}
			r.logger.WithField("member", a).Info("cluster member joined")
		}
	}
	for a := range r.peers.members {
		if !keep[a] {
			r.memberLost(ctx, a, "left the cluster")
			delete(r.peers.members, a)
			r.logger.WithField("member", a).Warn("cluster member left")
		}
	}
	r.announce(ctx, true)
}

// memberLost gives every job running on the member another chance
// elsewhere (the router's retry rule), and stops counting on its
// sandboxes until it announces again.
func (r *router) memberLost(ctx actor.Context, address, reason string) {
	if m := r.peers.members[address]; m != nil {
		m.status, m.idle = nil, 0
	}
	for id, j := range r.peers.running {
		if j.member != address {
			continue
		}
		delete(r.peers.running, id)
		j.member, j.avoidMember = "", address
		r.retry(ctx, j, nil, fmt.Sprintf("member %s %s", address, reason))
	}
	r.dispatch(ctx)
}

// announce tells every member this node's pool status: always when
// force, else only when the idle count changed since the last time.
func (r *router) announce(ctx actor.Context, force bool) {
	if len(r.peers.members) == 0 {
		return
	}
	st := r.localStatus()
	if !force && st.Idle == r.peers.announced {
		return
	}
	r.peers.announced = st.Idle
	for _, m := range r.peers.members {
		ctx.Send(m.router, st)
	}
}
