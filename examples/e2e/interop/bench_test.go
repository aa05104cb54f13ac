package interop

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkKadmCommit measures OffsetCommit round trips from kadm clients, each with its own
// connection and group, against the gateway over memstore and against franz-go's kfake seeded
// with the same topic, in the same run. It reports commits per second and the p50 and p99
// latency of one CommitOffsets call (one partition).
//
//	go test -run '^$' -bench KadmCommit -benchtime 20000x ./e2e/interop/
func BenchmarkKadmCommit(b *testing.B) {
	targets := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"gateway", func(b *testing.B) string { return startGateway(b, nil, "t1:3").addr }},
		{"kfake", startKfake},
	}
	for _, clients := range []int{1, 8} {
		for _, target := range targets {
			b.Run(fmt.Sprintf("%s/clients=%d", target.name, clients), func(b *testing.B) {
				benchCommits(b, target.start(b), clients)
			})
		}
	}
}

func startKfake(b *testing.B) string {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, "t1"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
	)
	require.NoError(b, err)
	b.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func benchCommits(b *testing.B, addr string, clients int) {
	ctx := context.Background()
	adms := make([]*kadm.Client, clients)
	for i := range adms {
		adms[i] = newKadm(b, addr)
		// Warm up: connection, ApiVersions, Metadata, FindCoordinator.
		resp, err := adms[i].CommitOffsets(ctx, fmt.Sprintf("bench-%d", i), offsets("t1", map[int32]int64{0: 0}, ""))
		require.NoError(b, err)
		require.NoError(b, resp.Error())
	}
	latencies := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var failed error
	var failOnce sync.Once
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			group := fmt.Sprintf("bench-%d", i)
			for j := range n {
				offs := offsets("t1", map[int32]int64{int32(j % 3): int64(j)}, "")
				t0 := time.Now()
				resp, err := adms[i].CommitOffsets(ctx, group, offs)
				lat = append(lat, time.Since(t0))
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					failOnce.Do(func() { failed = err })
					return
				}
			}
			latencies[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.NoError(b, failed)
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
