package http

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus figures served on /metrics. Each app has its
// own registry, so several servers in one process (tests) never clash.
type metrics struct {
	reg      *prometheus.Registry
	jobs     *prometheus.CounterVec
	failures *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(j Judge, a Async) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pecan_jobs_total",
			Help: "Judged jobs by language and verdict.",
		}, []string{"language", "verdict"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pecan_job_failures_total",
			Help: "Requests not judged, by reason (busy, internal, timeout).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pecan_job_duration_seconds",
			Help:    "Time from request to answer of judged jobs, queueing and compiling included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 40, 80},
		}, []string{"language"}),
	}
	m.reg.MustRegister(m.jobs, m.failures, m.latency, poolCollector{j},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a != nil {
		m.reg.MustRegister(asyncCollector{a})
	}
	return m
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

var (
	sandboxesDesc = prometheus.NewDesc("pecan_sandboxes", "Sandboxes of this node by state.", []string{"state"}, nil)
	restartsDesc  = prometheus.NewDesc("pecan_sandbox_restarts_total", "Sandbox restarts since the server started.", nil, nil)
	queueDesc     = prometheus.NewDesc("pecan_queue_length", "Requests waiting for an idle sandbox.", nil, nil)
	compilesDesc  = prometheus.NewDesc("pecan_compiles_total", "Compiles this node ran, by language.", []string{"language"}, nil)

	submissionsDesc   = prometheus.NewDesc("pecan_submissions_running", "Submissions this node coordinates.", nil, nil)
	testsDesc         = prometheus.NewDesc("pecan_tests_in_flight", "Tests of this node's submissions handed to sandboxes, here or on members, not answered yet.", nil, nil)
	artifactsDesc     = prometheus.NewDesc("pecan_artifact_cache_lookups_total", "Compile cache lookups by result (hit, miss).", []string{"result"}, nil)
	artifactBytesDesc = prometheus.NewDesc("pecan_artifact_cache_bytes", "Bytes of compiled programs the compile cache holds.", nil, nil)
	fetchedDesc       = prometheus.NewDesc("pecan_fetched_bytes_total", "Bytes of test data and compiled programs fetched from cluster members.", nil, nil)
)

// poolCollector reads the pool's status at scrape time, so /metrics and
// /v1/manager/sandbox-status always agree.
type poolCollector struct{ j Judge }

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sandboxesDesc
	ch <- restartsDesc
	ch <- queueDesc
	ch <- compilesDesc
	ch <- submissionsDesc
	ch <- testsDesc
	ch <- artifactsDesc
	ch <- artifactBytesDesc
	ch <- fetchedDesc
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := p.j.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sandboxesDesc, err)
		return
	}
	for state, n := range map[string]int32{"idle": st.Idle, "running": st.Running, "error": st.Error, "starting": st.Starting} {
		ch <- prometheus.MustNewConstMetric(sandboxesDesc, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(st.Restarts))
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.QueueLength))
	for lang, n := range st.Compiles {
		ch <- prometheus.MustNewConstMetric(compilesDesc, prometheus.CounterValue, float64(n), lang)
	}
	ch <- prometheus.MustNewConstMetric(submissionsDesc, prometheus.GaugeValue, float64(st.SubmissionsRunning))
	ch <- prometheus.MustNewConstMetric(testsDesc, prometheus.GaugeValue, float64(st.TestsInFlight))
	ch <- prometheus.MustNewConstMetric(artifactsDesc, prometheus.CounterValue, float64(st.ArtifactHits), "hit")
	ch <- prometheus.MustNewConstMetric(artifactsDesc, prometheus.CounterValue, float64(st.ArtifactMisses), "miss")
	ch <- prometheus.MustNewConstMetric(artifactBytesDesc, prometheus.GaugeValue, float64(st.ArtifactCacheBytes))
	ch <- prometheus.MustNewConstMetric(fetchedDesc, prometheus.CounterValue, float64(st.FetchedBytes))
}

var (
	asyncJobsDesc       = prometheus.NewDesc("pecan_async_jobs", "Async jobs not finished, by state (queued, running).", []string{"state"}, nil)
	asyncDeliveriesDesc = prometheus.NewDesc("pecan_async_webhook_deliveries_total",
		"Webhook delivery attempts by outcome: delivered, failed (to be retried or given up), gave_up (jobs whose delivery ended unsuccessfully).", []string{"outcome"}, nil)
)

// asyncCollector reads the async queue's counters at scrape time.
type asyncCollector struct{ a Async }

func (c asyncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- asyncJobsDesc
	ch <- asyncDeliveriesDesc
}

func (c asyncCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Stats()
	ch <- prometheus.MustNewConstMetric(asyncJobsDesc, prometheus.GaugeValue, float64(st.Queued), "queued")
	ch <- prometheus.MustNewConstMetric(asyncJobsDesc, prometheus.GaugeValue, float64(st.Running), "running")
	ch <- prometheus.MustNewConstMetric(asyncDeliveriesDesc, prometheus.CounterValue, float64(st.Delivered), "delivered")
	ch <- prometheus.MustNewConstMetric(asyncDeliveriesDesc, prometheus.CounterValue, float64(st.FailedDeliveries), "failed")
	ch <- prometheus.MustNewConstMetric(asyncDeliveriesDesc, prometheus.CounterValue, float64(st.GaveUp), "gave_up")
}
