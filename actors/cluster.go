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

	mu      sync.Mutex
	sub     *eventstream.Subscription
	stop    chan struct{}
	refused map[string]bool // member ids already logged as incompatible
	left    bool
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
	remoteOpts, err := tlsOptions(cfg.TLS)
	if err != nil {
		return nil, err
	}
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
		refused:  map[string]bool{},
	}
	kinds = c.cluster.GetClusterKinds
	// protoactor reports a failed start (address in use, etcd down) by
	// panicking.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("join cluster on %s: %v", cfg.Bind, r)
		}
	}()
	c.cluster.StartMember()
	logger.WithFields(logrus.Fields{"provider": cfg.Provider, "protocol": messages.Protocol, "tls": cfg.TLS.Enabled()}).Info("joined cluster")
	return c, nil
}

// Address is this node's remoting address; it names the node in a cluster.
func (c *Cluster) Address() string { return c.address }

// attach makes router this node's share of the cluster: it learns of
// members as the topology changes, of broken connections to them, and
// announces its status every announceEvery.
func (c *Cluster) attach(system *actor.ActorSystem, router *actor.PID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	system.Root.Send(router, &joinCluster{address: c.address, node: c.address})
	c.sub = system.EventStream.Subscribe(func(evt interface{}) {
		switch e := evt.(type) {
		case *cluster.ClusterTopology:
			system.Root.Send(router, &membersChanged{addresses: c.compatible(e.Members)})
		case *remote.EndpointTerminatedEvent:
			system.Root.Send(router, &endpointLost{address: e.Address})
		}
	})
	// The topology may have settled before the subscription.
	system.Root.Send(router, &membersChanged{addresses: c.compatible(c.cluster.MemberList.Members().Members())})
	c.stop = make(chan struct{})
	go func(stop <-chan struct{}) {
		t := time.NewTicker(announceEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				system.Root.Send(router, &announceTick{})
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
		c.mu.Lock()
		logged := c.refused[m.Id]
		c.refused[m.Id] = true
		c.mu.Unlock()
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
	if c.sub != nil {
		c.cluster.ActorSystem.EventStream.Unsubscribe(c.sub)
	}
	// Shutdown(false) skips the provider and a fixed 2 s wait of the
	// graceful path; deregistering is all a graceful leave needs here.
	err := c.provider.Shutdown(true)
	c.cluster.Shutdown(false)
	if err != nil {
		return fmt.Errorf("leave cluster: %w", err)
	}
	return nil
}
