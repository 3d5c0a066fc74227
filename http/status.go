package http

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/messages"
)

// statusTimeout bounds GET /v1/manager/sandbox-status: monitoring polls it
// and must get an answer even when the pool is wedged.
const statusTimeout = 5 * time.Second

// health answers liveness probes. It does not consult the pool: a busy
// pool is not a dead server.
func (s *server) health(c *fiber.Ctx) error {
	return c.SendString("OK")
}

func (s *server) version(c *fiber.Ctx) error {
	return c.SendString(s.opts.Version)
}

// languageInfo is one entry of GET /v1/languages.
type languageInfo struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Aliases   []string `json:"aliases"`
	Version   string   `json:"version"`
	Available bool     `json:"available"`
	Problem   string   `json:"problem,omitempty"`
}

func (s *server) languages(c *fiber.Ctx) error {
	all := s.langs.All()
	out := make([]languageInfo, 0, len(all))
	for _, l := range all {
		aliases := l.Aliases
		if aliases == nil {
			aliases = []string{} // [] rather than null: clients iterate it
		}
		out = append(out, languageInfo{
			ID:        l.ID,
			Name:      l.Name,
			Aliases:   aliases,
			Version:   l.ToolVersion,
			Available: l.Available,
			Problem:   l.Problem,
		})
	}
	return c.JSON(out)
}

// sandboxStatus is GET /v1/manager/sandbox-status. The first four fields
// are the original API's; the rest are additive.
type sandboxStatus struct {
	Available   int32  `json:"available_sandboxes"`
	Idle        int32  `json:"idle_sandboxes"`
	Running     int32  `json:"running_sandboxes"`
	Error       int32  `json:"error_sandboxes"`
	Starting    int32  `json:"starting_sandboxes"`
	Restarts    int64  `json:"restarts"`
	QueueLength int32  `json:"queue_length"`
	Node        string `json:"node"`
	// Submissions: those this node coordinates, their tests handed to
	// sandboxes, the compile cache and what came from members.
	SubmissionsRunning int32 `json:"submissions_running"`
	TestsInFlight      int32 `json:"tests_in_flight"`
	ArtifactHits       int64 `json:"artifact_cache_hits"`
	ArtifactMisses     int64 `json:"artifact_cache_misses"`
	ArtifactBytes      int64 `json:"artifact_cache_bytes"`
	FetchedBytes       int64 `json:"fetched_bytes"`
	// Cluster is present on a cluster member only.
	Cluster *clusterStatus `json:"cluster,omitempty"`
}

// clusterStatus is the cluster as the answering node sees it: each
// member's last announcement (this node's is current) and their sum.
type clusterStatus struct {
	Members []sandboxStatus `json:"members"`
	Total   sandboxStatus   `json:"total"`
}

func toStatus(st *messages.PoolStatus) sandboxStatus {
	return sandboxStatus{
		Available:   st.Available,
		Idle:        st.Idle,
		Running:     st.Running,
		Error:       st.Error,
		Starting:    st.Starting,
		Restarts:    st.Restarts,
		QueueLength: st.QueueLength,
		Node:        st.Node,

		SubmissionsRunning: st.SubmissionsRunning,
		TestsInFlight:      st.TestsInFlight,
		ArtifactHits:       st.ArtifactHits,
		ArtifactMisses:     st.ArtifactMisses,
		ArtifactBytes:      st.ArtifactCacheBytes,
		FetchedBytes:       st.FetchedBytes,
	}
}

func toClusterStatus(members []*messages.PoolStatus) *clusterStatus {
	if len(members) == 0 {
		return nil
	}
	cs := &clusterStatus{Members: make([]sandboxStatus, 0, len(members)), Total: sandboxStatus{Node: "total"}}
	for _, m := range members {
		ms := toStatus(m)
		cs.Members = append(cs.Members, ms)
		t := &cs.Total
		t.Available += ms.Available
		t.Idle += ms.Idle
		t.Running += ms.Running
		t.Error += ms.Error
		t.Starting += ms.Starting
		t.Restarts += ms.Restarts
		t.QueueLength += ms.QueueLength
		t.SubmissionsRunning += ms.SubmissionsRunning
		t.TestsInFlight += ms.TestsInFlight
	}
	return cs
}

func (s *server) sandboxStatus(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), statusTimeout)
	defer cancel()
	st, err := s.judge.Status(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fiber.NewError(fiber.StatusGatewayTimeout, "the sandbox pool did not report in time")
	case err != nil:
		s.log.WithError(err).Error("pool status failed")
		return errInternal
	case st == nil:
		return errInternal
	}
	out := toStatus(st)
	out.Cluster = toClusterStatus(st.Members)
	return c.JSON(out)
}
