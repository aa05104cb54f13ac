package filerstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// weedCPU returns the CPU time the shared weed process has used so far (0 when unknown),
// from /proc/<pid>/stat.
func weedCPU(b *testing.B) time.Duration {
	if shared.srv == nil {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", shared.srv.Pid()))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// reportWeedCPU reports the filer's CPU per operation since cpu0.
func reportWeedCPU(b *testing.B, cpu0 time.Duration, ops int) {
	if cpu1 := weedCPU(b); cpu1 > 0 && ops > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(ops), "weed-cpu-µs/op")
	}
}

// BenchmarkConcurrentCommit: 1 or 8 clients, each committing 8 partitions at a time to one of
// 16 groups in turn, one commit after another, as the gateway's clients do. trips is
// Options.TxnRoundTrips: 0, the default, sends every commit as its own ObjectTransaction (the
// store before commits could share round trips); N lets commits share round trips beyond N in
// flight. The filer is the local one (rtt=0s) or the same seen across a network that adds
// 1 ms to every call (rtt=1ms). It reports commits per second, the p50 latency of one
// commit, and the filer's CPU per commit.
//
//	go test -run '^$' -bench 'ConcurrentCommit/rtt=0s' -benchtime 1000x -count 6 . | benchstat -col /trips -
func BenchmarkConcurrentCommit(b *testing.B) {
	for _, rtt := range []time.Duration{0, time.Millisecond} {
		for _, clients := range []int{1, 8} {
			for _, trips := range []int{0, 1, 4} {
				b.Run(fmt.Sprintf("rtt=%v/clients=%d/trips=%d", rtt, clients, trips), func(b *testing.B) {
					c := &wrapClient{SeaweedFilerClient: filerClient(b), latency: rtt}
					s := newStoreOn(b, c, filerstore.Options{TxnRoundTrips: trips})
					benchConcurrentCommit(b, s, clients)
				})
			}
		}
	}
}

func benchConcurrentCommit(b *testing.B, s *filerstore.Store, clients int) {
	const groups, partitions = 16, 8
	ctx := context.Background()
	batches := make([]map[offsetstore.TopicPartition]offsetstore.Offset, groups)
	for g := range batches {
		batches[g] = benchBatch(1, partitions)
		if err := s.Commit(ctx, fmt.Sprintf("g%d", g), batches[g]); err != nil {
			b.Fatal(err)
		}
	}
	latencies := make([][]time.Duration, clients)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  error
	)
	cpu0 := weedCPU(b)
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			lat := make([]time.Duration, 0, n)
			for j := range n {
				g := (i + j*clients) % groups
				t0 := time.Now()
				if err := s.Commit(ctx, fmt.Sprintf("g%d", g), batches[g]); err != nil {
					errOnce.Do(func() { failed = err })
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[i] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	reportWeedCPU(b, cpu0, len(all))
}

// BenchmarkFilerTransaction is weed's own cost of an entry, without the store: one
// ObjectTransaction writing 1, 8 or 64 offset-sized entries (each in its own directory, as
// the layout has them) on a bare filer. The 64-entry time minus the 1-entry time, over 63,
// is the floor of a partition's cost in a commit; weed-cpu-µs/op is the filer's CPU.
func BenchmarkFilerTransaction(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx := context.Background()
			client := filerClient(b)
			root := newRoot(b)
			content := []byte(`{"type":"offset","value":42,"committed_at":1760000000000,"metadata":"consumer-1","leader_epoch":5}`)
			muts := make([]*filer_pb.ObjectMutation, n)
			for p := range muts {
				muts[p] = &filer_pb.ObjectMutation{
					Type:      filer_pb.ObjectMutation_PUT,
					Directory: fmt.Sprintf("%s/g/t/%d", root, p),
					Entry: &filer_pb.Entry{Name: "offset", Content: content, Attributes: &filer_pb.FuseAttributes{
						Mtime: time.Now().Unix(), Crtime: time.Now().Unix(), FileMode: 0o644, FileSize: uint64(len(content)),
					}},
				}
			}
			req := &filer_pb.ObjectTransactionRequest{LockKey: root + "/g", RouteKey: root + "/g", Mutations: muts}
			do := func() {
				resp, err := client.ObjectTransaction(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if resp.Error != "" {
					b.Fatal(resp.Error)
				}
			}
			do() // the directories exist from now on: the steady state of a group
			cpu0 := weedCPU(b)
			ops := 0
			for b.Loop() {
				do()
				ops++
			}
			reportWeedCPU(b, cpu0, ops)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ops)/float64(n)/1e3, "µs/entry")
		})
	}
}

// BenchmarkFilerPatchExtended measures a layout the store does not use, for comparison with
// BenchmarkFilerTransaction: every offset of a group as one extended attribute of a single
// entry, a commit of 64 partitions being one PATCH_EXTENDED mutation that sets 64 keys of an
// entry holding 64 or 1,000. weed rewrites the whole entry on each patch, so its cost grows
// with the group's partitions rather than the commit's.
func BenchmarkFilerPatchExtended(b *testing.B) {
	const commitKeys = 64
	for _, held := range []int{64, 1000} {
		b.Run(fmt.Sprintf("keys=%d/entry-keys=%d", commitKeys, held), func(b *testing.B) {
			ctx := context.Background()
			client := filerClient(b)
			root := newRoot(b)
			value := []byte(`{"type":"offset","value":42,"committed_at":1760000000000,"metadata":"consumer-1","leader_epoch":5}`)
			ext := make(map[string][]byte, held)
			for p := range held {
				ext[fmt.Sprintf("t/%d", p)] = value
			}
			put := &filer_pb.ObjectTransactionRequest{LockKey: root + "/g", RouteKey: root + "/g", Mutations: []*filer_pb.ObjectMutation{{
				Type:      filer_pb.ObjectMutation_PUT,
				Directory: root + "/g",
				Entry: &filer_pb.Entry{Name: "offsets", Extended: ext, Attributes: &filer_pb.FuseAttributes{
					Mtime: time.Now().Unix(), Crtime: time.Now().Unix(), FileMode: 0o644,
				}},
			}}}
			if resp, err := client.ObjectTransaction(ctx, put); err != nil || resp.Error != "" {
				b.Fatal(err, resp.GetError())
			}
			set := make(map[string][]byte, commitKeys)
			for p := range commitKeys {
				set[fmt.Sprintf("t/%d", p)] = value
			}
			patch := &filer_pb.ObjectTransactionRequest{LockKey: root + "/g", RouteKey: root + "/g", Mutations: []*filer_pb.ObjectMutation{{
				Type: filer_pb.ObjectMutation_PATCH_EXTENDED, Directory: root + "/g", Name: "offsets", SetExtended: set,
			}}}
			cpu0 := weedCPU(b)
			ops := 0
			for b.Loop() {
				resp, err := client.ObjectTransaction(ctx, patch)
				if err != nil || resp.Error != "" {
					b.Fatal(err, resp.GetError())
				}
				ops++
			}
			reportWeedCPU(b, cpu0, ops)
		})
	}
}
