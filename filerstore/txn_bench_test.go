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
// 16 groups in turn, one commit after another, as the gateway's clients do. "batched" is the
// store as it is; "unbatched" plays a filer without ObjectTransactionBatch, so every commit
// is its own ObjectTransaction: the store before commits shared round trips. The filer is the
// local one (rtt=0) or the same seen across a network that adds 1 ms to every call
// (rtt=1ms). It reports commits per second, the p50 latency of one commit, and the filer's
// CPU per commit.
//
//	go test -run '^$' -bench ConcurrentCommit -count 6 . | benchstat -col /mode -
func BenchmarkConcurrentCommit(b *testing.B) {
	for _, rtt := range []time.Duration{0, time.Millisecond} {
		for _, clients := range []int{1, 8} {
			for _, mode := range []string{"unbatched", "batched"} {
				b.Run(fmt.Sprintf("rtt=%v/clients=%d/mode=%s", rtt, clients, mode), func(b *testing.B) {
					benchModeCommit(b, rtt, clients, mode)
				})
			}
		}
	}
}

func benchModeCommit(b *testing.B, rtt time.Duration, clients int, mode string) {
	var unimplemented []string
	if mode == "unbatched" {
		unimplemented = []string{"ObjectTransactionBatch"}
	}
	c := &wrapClient{SeaweedFilerClient: filerClient(b), unimplemented: unimplemented, latency: rtt}
	s := newStoreOn(b, c, filerstore.Options{})
	if mode == "unbatched" {
		// Let the store learn that the batch RPC is missing.
		warmBatch(b, s)
	}
	benchConcurrentCommit(b, s, clients)
}

// warmBatch runs concurrent commits until at least one went in a batch attempt.
func warmBatch(b *testing.B, s *filerstore.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			_ = offsetstore.CommitOne(ctx, s, fmt.Sprintf("warm-%d", i), offsetstore.TopicPartition{Topic: "t", Partition: 0}, offsetstore.Offset{Offset: 1})
		})
	}
	wg.Wait()
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
