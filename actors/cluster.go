package actors

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
)

// protocolKind is the cluster kind every Pecan node registers. Members
// whose kinds lack it speak other messages (or are not Pecan at all), and
// are never sent anything: an unknown protobuf type would crash them.
const protocolKind = "pecan-protocol/" + messages.Protocol

// announceEvery is how often the router tells members its status even
// when it did not change.
const announceEvery = time.Second

// Cluster is this node's membership in a Pecan cluster: protoactor
// remoting on the bind address and cluster membership through the
// configured provider. Start a pool with it (Options.Cluster) to share
// work with the other members.
type Cluster struct {
	cluster  *cluster.Cluster
	provider cluster.ClusterProvider
	address  string
	logger   logrus.FieldLogger

	// mu orders what reaches the router: the membership is sent while
	// it is held, so the router never sees an older topology after a
	// newer one.
	mu     sync.Mutex
	system *actor.ActorSystem
	sub    *eventstream.Subscription
	latest []*cluster.Member // the last topology, kept until attach
	router *actor.PID        // nil until attach
	stop   chan struct{}
	left   bool

	refusedMu sync.Mutex
	refused   map[string]bool // member ids already logged as incompatible
}

// JoinCluster starts remoting on system and joins the cluster cfg
// describes. It must run before the pool starts, so the PIDs the pool
// creates carry this node's address.
func JoinCluster(system *actor.ActorSystem, cfg config.Cluster, logger logrus.FieldLogger) (c *Cluster, err error) {
	host, portStr, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster bind %q: %w", cfg.Bind, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster bind %q: port: %w", cfg.Bind, err)
	}
	logger = logger.WithFields(logrus.Fields{"component": "cluster", "address": cfg.Bind})
	remoteOpts, err := remoteOptions(cfg.TLS, logger)
	if err != nil {
		return nil, err
	}
	if cfg.OpenRemoting() {
		// Only with [cluster] insecure = true (config validation): say
		// so at every start, so it is never forgotten.
		logger.Warn("cluster remoting listens without TLS on an address other machines can reach (insecure = true): " +
			"anyone who reaches it can send this node any message a member could; configure [cluster.tls]")
	}
	// Members know this node by its bind address, as configured: without
	// this, remoting would name it by the listener's resolved address
	// (127.0.0.1 for "localhost:7100") and its own requests would look
	// like a member's.
	remoteOpts = append(remoteOpts, remote.WithAdvertisedHost(cfg.Bind))
	var kinds func() []string // set once the cluster exists
	provider, err := newProvider(cfg, system.ID, host, port, func() []string { return kinds() })
	if err != nil {
		return nil, err
	}
	// The kind is never activated; it only labels this node's protocol.
	kind := cluster.NewKind(protocolKind, actor.PropsFromFunc(func(actor.Context) {}))
	cc := cluster.Configure(cfg.Name, provider, disthash.New(),
		remote.Configure(host, port, remoteOpts...),
		cluster.WithKinds(kind))
	c = &Cluster{
		cluster:  cluster.New(system, cc),
		provider: provider,
		address:  cfg.Bind,
		logger:   logger,
		system:   system,
		refused:  map[string]bool{},
	}
	kinds = c.cluster.GetClusterKinds
	// Subscribed before the start, so no topology is missed; the router
	// gets the latest when it attaches.
	c.sub = system.EventStream.Subscribe(c.onEvent)
	// protoactor reports a failed start (address in use, etcd down) by
	// panicking.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("join cluster on %s: %v", cfg.Bind, r)
			c.abandon()
		}
	}()
	c.cluster.StartMember()
	logger.WithFields(logrus.Fields{"provider": cfg.Provider, "protocol": messages.Protocol, "tls": cfg.TLS.Enabled()}).Info("joined cluster")
	return c, nil
}

// Address is this node's remoting address; it names the node in a cluster.
func (c *Cluster) Address() string { return c.address }

// abandon releases what a failed start may have opened: the
// membership endpoint, remoting and the event subscription.
func (c *Cluster) abandon() {
	defer func() { _ = recover() }() // parts never started may panic on stop
	c.system.EventStream.Unsubscribe(c.sub)
	_ = c.provider.Shutdown(false)
	if c.cluster.Remote != nil {
		c.cluster.Remote.Shutdown(false)
	}
}

// onEvent passes topology changes and lost connections to the router
// once it is attached, keeping the latest topology until then.
func (c *Cluster) onEvent(evt interface{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := evt.(type) {
	case *cluster.ClusterTopology:
		c.latest = e.Members
		if c.router != nil {
			c.system.Root.Send(c.router, &membersChanged{addresses: c.compatible(e.Members)})
		}
	case *remote.EndpointTerminatedEvent:
		if c.router != nil {
			c.system.Root.Send(c.router, &endpointLost{address: e.Address})
		}
	}
}

// attach makes router this node's share of the cluster: it learns of
// members as the topology changes, of broken connections to them, and
// announces its status every announceEvery.
func (c *Cluster) attach(router *actor.PID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.router = router
	c.system.Root.Send(router, &joinCluster{address: c.address, node: c.address})
	c.system.Root.Send(router, &membersChanged{addresses: c.compatible(c.latest)})
	c.stop = make(chan struct{})
	go func(stop <-chan struct{}) {
		t := time.NewTicker(announceEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.system.Root.Send(router, &announceTick{})
			}
		}
	}(c.stop)
}

// compatible returns the addresses of the members other than this node
// that speak this node's protocol, and logs each one that does not, once.
func (c *Cluster) compatible(members []*cluster.Member) []string {
	var out []string
	for _, m := range members {
		addr := m.Address()
		if addr == c.address {
			continue
		}
		if slices.Contains(m.Kinds, protocolKind) {
			out = append(out, addr)
			continue
		}
		c.refusedMu.Lock()
		logged := c.refused[m.Id]
		c.refused[m.Id] = true
		c.refusedMu.Unlock()
		if !logged {
			c.logger.WithFields(logrus.Fields{
				"member": addr, "member_kinds": m.Kinds, "want": protocolKind,
			}).Error("refusing cluster member: it speaks another Pecan message protocol (or is not Pecan); upgrade the nodes to one version")
		}
	}
	slices.Sort(out)
	return out
}

// Leave deregisters this node and stops remoting. Stop the pool first,
// so the jobs members handed it are answered.
func (c *Cluster) Leave() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left {
		return nil
	}
	c.left = true
	if c.stop != nil {
		close(c.stop)
	}
	c.system.EventStream.Unsubscribe(c.sub)
	// Shutdown(false) skips the provider and a fixed 2 s wait of the
	// graceful path; deregistering is all a graceful leave needs here.
	err := c.provider.Shutdown(true)
	c.cluster.Shutdown(false)
	if err != nil {
		return fmt.Errorf("leave cluster: %w", err)
	}
	return nil
}
