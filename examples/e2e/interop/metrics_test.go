package interop

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var metricsRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// scrape fetches and parses the gateway's /metrics.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

// value returns the value of the series of family name whose labels are exactly labels
// ("k=v,k=v" in any order), and whether it exists. Histograms give their sample count.
func value(mfs map[string]*dto.MetricFamily, name, labels string) (float64, bool) {
	want := strings.Split(labels, ",")
	slices.Sort(want)
	labels = strings.Join(want, ",")
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(ls)
		if strings.Join(ls, ",") != labels {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestGatewayMetrics runs the gateway binary with -metrics-addr and a short retention, sends
// requests whose counts and error codes are known (raw kmsg requests, plus kadm), scrapes
// /metrics over HTTP and checks each series: requests by API and version (offset APIs through
// protocol's Observer, the rest from the gateway's loop), error codes per occurrence, latency,
// a rejected request, open connections and offsets expired by retention.
func TestGatewayMetrics(t *testing.T) {
	p := startProcess(t, "-topics", "t1:3", "-metrics-addr", "127.0.0.1:0",
		"-offsets-retention", "2s", "-offsets-retention-check-interval", "100ms")
	m := metricsRE.FindStringSubmatch(p.logs())
	require.NotNil(t, m, p.logs())
	url := m[1]
	ctx := testContext(t)

	// kadm: a commit (OffsetCommit v10) of three offsets that retention later expires.
	adm := newKadm(t, p.addr)
	resp, err := adm.CommitOffsets(ctx, "simple", offsets("t1", map[int32]int64{0: 1, 1: 2, 2: 3}, ""))
	require.NoError(t, err)
	require.NoError(t, resp.Error())

	// Raw requests with known answers.
	raw := dialRaw(t, p.addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
	require.Zero(t, raw.do(av).(*kmsg.ApiVersionsResponse).ErrorCode)

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("nope")}, {Topic: kmsg.StringPtr("t1")}}
	mdResp := raw.do(md).(*kmsg.MetadataResponse)
	require.Len(t, mdResp.Topics, 2)
	require.Equal(t, kerr.UnknownTopicOrPartition.Code, mdResp.Topics[0].ErrorCode)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version = 9
	oc.Group, oc.Generation = "raw", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "nope"
	for i := range int32(2) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = i, 5
		rt.Partitions = append(rt.Partitions, rp)
	}
	oc.Topics = append(oc.Topics, rt)
	ocResp := raw.do(oc).(*kmsg.OffsetCommitResponse)
	for _, p := range ocResp.Topics[0].Partitions {
		require.Equal(t, kerr.UnknownTopicOrPartition.Code, p.ErrorCode)
	}

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 7
	of.Group = "simple"
	require.Zero(t, raw.do(of).(*kmsg.OffsetFetchResponse).ErrorCode)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation = "nobody", "m", 1
	require.Equal(t, kerr.UnknownMemberID.Code, raw.do(hb).(*kmsg.HeartbeatResponse).ErrorCode)

	// An API the gateway does not serve (Produce) closes its connection.
	bad := dialRaw(t, p.addr)
	prod := kmsg.NewPtrProduceRequest()
	prod.Version = 9
	bad.write(bad.frame(prod))
	require.True(t, bad.closedByPeer())

	mfs := scrape(t, url)
	want := []struct {
		name, labels string
		value        float64
	}{
		{"offsetkit_gateway_requests_total", "api=OffsetCommit,version=10", 1},
		{"offsetkit_gateway_requests_total", "api=OffsetCommit,version=9", 1},
		{"offsetkit_gateway_requests_total", "api=OffsetFetch,version=7", 1},
		{"offsetkit_gateway_requests_total", "api=Metadata,version=12", 1},
		{"offsetkit_gateway_requests_total", "api=ApiVersions,version=3", 1},
		{"offsetkit_gateway_requests_total", "api=Heartbeat,version=4", 1},
		{"offsetkit_gateway_request_errors_total", "api=OffsetCommit,version=9,error=UNKNOWN_TOPIC_OR_PARTITION", 2},
		{"offsetkit_gateway_request_errors_total", "api=Metadata,version=12,error=UNKNOWN_TOPIC_OR_PARTITION", 1},
		{"offsetkit_gateway_request_errors_total", "api=Heartbeat,version=4,error=UNKNOWN_MEMBER_ID", 1},
		{"offsetkit_gateway_request_duration_seconds", "api=OffsetCommit", 2},
		{"offsetkit_gateway_request_duration_seconds", "api=Heartbeat", 1},
		{"offsetkit_gateway_rejected_requests_total", "reason=unsupported", 1},
	}
	for _, w := range want {
		got, ok := value(mfs, w.name, w.labels)
		require.True(t, ok, "%s{%s} missing", w.name, w.labels)
		require.Equal(t, w.value, got, "%s{%s}", w.name, w.labels)
	}
	// kadm's own ApiVersions, Metadata and FindCoordinator requests: at least one of each.
	for _, api := range []string{"ApiVersions", "Metadata", "FindCoordinator"} {
		var n float64
		for v := range 20 {
			x, _ := value(mfs, "offsetkit_gateway_requests_total", fmt.Sprintf("api=%s,version=%d", api, v))
			n += x
		}
		require.GreaterOrEqual(t, n, 1.0, api)
	}
	_, ok := value(mfs, "offsetkit_gateway_request_errors_total", "api=OffsetFetch,version=7,error=UNKNOWN_TOPIC_OR_PARTITION")
	require.False(t, ok, "no error series for an answer without errors")
	conns, _ := value(mfs, "offsetkit_gateway_open_connections", "")
	require.GreaterOrEqual(t, conns, 2.0, "the raw connection and kadm's")
	storeErrs := mfs["offsetkit_gateway_store_errors_total"]
	require.True(t, storeErrs == nil || len(storeErrs.GetMetric()) == 0, "memstore never fails")
	require.Contains(t, mfs, "go_goroutines")

	// Retention (2s, swept every 100ms) expires the simple group's three offsets.
	require.Eventually(t, func() bool {
		n, _ := value(scrape(t, url), "offsetkit_gateway_expired_offsets_total", "")
		return n == 3
	}, 20*time.Second, 100*time.Millisecond)
	require.Empty(t, fetchAll(t, adm, "simple"))

	// Every client gone: no open connections.
	raw.c.Close()
	adm.Close()
	require.Eventually(t, func() bool {
		n, ok := value(scrape(t, url), "offsetkit_gateway_open_connections", "")
		return ok && n == 0
	}, 20*time.Second, 50*time.Millisecond)

	p.stop(t, syscall.SIGTERM)
}
