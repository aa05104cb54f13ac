// Package metrics exports the example gateway's activity to Prometheus: it implements
// server.Observer (and so protocol.Observer) over its own registry, and serves it at /metrics.
//
// The metrics (names are stable; examples/README.md lists them too):
//
//	offsetkit_gateway_requests_total{api,version}              requests answered
//	offsetkit_gateway_request_errors_total{api,version,error}  error codes in responses, one per occurrence
//	offsetkit_gateway_request_duration_seconds{api}            time to answer a request (histogram)
//	offsetkit_gateway_store_errors_total{api}                  requests during which the offset store failed
//	offsetkit_gateway_rejected_requests_total{reason}          requests that closed their connection
//	offsetkit_gateway_open_connections                         client connections open now
//	offsetkit_gateway_expired_offsets_total                    offsets removed by retention
//
// plus the Go runtime and process collectors. Labels come only from what the gateway serves
// (API names and versions it accepts, Kafka error names), never from unchecked wire values, so
// the number of series is bounded.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Namespace prefixes every metric name.
const Namespace = "offsetkit_gateway"

// Metrics is a Prometheus registry of the gateway's metrics. It implements server.Observer and
// is safe for concurrent use. The zero value is not usable; call New.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	conns       prometheus.Gauge
	expired     prometheus.Counter
}

// New returns Metrics registered in a new registry (not the global one).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "Requests answered, by API and version.",
		}, []string{"api", "version"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "request_errors_total",
			Help: "Kafka error codes in responses, by API, version and error name; each partition, group or top-level code counts once.",
		}, []string{"api", "version", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "request_duration_seconds",
			Help:    "Time to answer a request (hooks and store included), by API.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_errors_total",
			Help: "Requests during which the offset store failed, by API.",
		}, []string{"api"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rejected_requests_total",
			Help: "Requests that closed their connection: unsupported API key or version, or malformed bytes.",
		}, []string{"reason"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "open_connections",
			Help: "Client connections open now.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "expired_offsets_total",
			Help: "Committed offsets removed by offset retention.",
		}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.duration, m.storeErrors, m.rejected, m.conns, m.expired,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, to add collectors or to gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest implements protocol.Observer (and server.Observer).
func (m *Metrics) ObserveRequest(_ context.Context, ev protocol.RequestEvent) {
	if ev.Err != nil {
		reason := "malformed"
		if errors.Is(ev.Err, protocol.ErrUnsupported) {
			reason = "unsupported"
		}
		m.rejected.WithLabelValues(reason).Inc()
		return
	}
	api, version := kmsg.NameForKey(ev.Key), strconv.Itoa(int(ev.Version))
	m.requests.WithLabelValues(api, version).Inc()
	m.duration.WithLabelValues(api).Observe(ev.Duration.Seconds())
	for _, e := range ev.Errors {
		m.errors.WithLabelValues(api, version, errorName(e.Code)).Add(float64(e.Count))
	}
	if ev.StoreErr != nil {
		m.storeErrors.WithLabelValues(api).Inc()
	}
}

// ConnectionsChanged implements server.Observer.
func (m *Metrics) ConnectionsChanged(delta int) { m.conns.Add(float64(delta)) }

// OffsetsExpired implements server.Observer.
func (m *Metrics) OffsetsExpired(_ string, n int) { m.expired.Add(float64(n)) }

// errorName is Kafka's name of an error code, or the code in decimal for one kerr does not
// know.
func errorName(code int16) string {
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) && ke.Code == code {
		return ke.Message
	}
	return strconv.Itoa(int(code))
}

// Serve serves /metrics on ln until ctx is done, then shuts the HTTP server down (waiting at
// most five seconds for scrapes in flight). It returns nil after ctx is done.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
