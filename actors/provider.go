package actors

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/labstack/echo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/pecan-judge/pecan/config"
)

// membershipRefresh is how often the automanaged provider asks every seed
// whether it is up: a dead member leaves the topology within about this
// (plus a 2 s HTTP timeout when its host does not answer at all).
const membershipRefresh = 500 * time.Millisecond

// healthPort is the port of the automanaged provider's membership
// endpoint for a node whose remoting port is port: the next one.
func healthPort(port int) int { return port + 1 }

// newProvider builds the membership provider cfg names. kinds reports the
// node's cluster kinds when a peer asks.
func newProvider(cfg config.Cluster, id, host string, port int, kinds func() []string) (cluster.ClusterProvider, error) {
	switch cfg.Provider {
	case config.ProviderEtcd:
		p, err := etcd.NewWithConfig(cfg.EtcdPrefix, clientv3.Config{
			Endpoints:   cfg.EtcdEndpoints,
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd %v: %w", cfg.EtcdEndpoints, err)
		}
		return p, nil
	case config.ProviderAutomanaged:
		return newAutomanaged(cfg, id, host, port, kinds)
	}
	return nil, fmt.Errorf("cluster: unknown provider %q", cfg.Provider)
}

// newAutomanaged builds protoactor's automanaged provider: every node
// serves its membership record over HTTP on healthPort of its remoting
// port, and polls those of the seeds. The library would listen on all
// interfaces; the listener made here binds the remoting host only.
func newAutomanaged(cfg config.Cluster, id, host string, port int, kinds func() []string) (cluster.ClusterProvider, error) {
	health := healthPort(port)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(health)))
	if err != nil {
		return nil, fmt.Errorf("cluster: membership endpoint: %w", err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Listener = ln
	e.GET("/_health", func(c echo.Context) error {
		return c.JSON(http.StatusOK, automanaged.NewNode(cfg.Name, id, host, port, health, kinds()))
	})
	hosts := []string{net.JoinHostPort(host, strconv.Itoa(health))}
	for _, s := range cfg.Seeds {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: seed %q: %w", s, err)
		}
		sp, err := strconv.Atoi(p)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("cluster: seed %q: port: %w", s, err)
		}
		if hp := net.JoinHostPort(h, strconv.Itoa(healthPort(sp))); hp != hosts[0] {
			hosts = append(hosts, hp)
		}
	}
	// "Testing" only means the provider uses the server given here
	// instead of building its own on 0.0.0.0.
	return automanaged.NewWithTesting(membershipRefresh, health, e, hosts...), nil
}
