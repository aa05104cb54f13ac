package memstore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// benchBatch returns a commit batch of n partitions of one topic and the list of its keys.
func benchBatch(n int) (map[offsetstore.TopicPartition]offsetstore.Offset, []offsetstore.TopicPartition) {
	m := make(map[offsetstore.TopicPartition]offsetstore.Offset, n)
	tps := make([]offsetstore.TopicPartition, 0, n)
	now := time.Now()
	for i := range n {
		tp := offsetstore.TopicPartition{Topic: "bench-topic", Partition: int32(i)}
		m[tp] = offsetstore.Offset{Offset: int64(i) * 100, LeaderEpoch: 5, Metadata: "m", CommitTime: now}
		tps = append(tps, tp)
	}
	return m, tps
}

// benchGroups is how many groups the parallel benchmarks spread over, as a gateway serving
// many consumer groups would.
const benchGroups = 256

func groupNames() []string {
	names := make([]string, benchGroups)
	for i := range names {
		names[i] = "bench-group-" + strconv.Itoa(i)
	}
	return names
}

// BenchmarkCommit commits batches of 1, 8 and 100 partitions, from one goroutine (serial)
// and from GOMAXPROCS goroutines over many groups (parallel), with the default sharding and
// with a single lock (shards=1) for comparison.
func BenchmarkCommit(b *testing.B) {
	for _, shards := range []int{memstore.DefaultShards, 1} {
		for _, n := range []int{1, 8, 100} {
			batch, _ := benchBatch(n)
			groups := groupNames()
			b.Run(fmt.Sprintf("shards=%d/batch=%d/serial", shards, n), func(b *testing.B) {
				ctx := context.Background()
				s := memstore.New(memstore.Options{Shards: shards})
				defer s.Close()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := s.Commit(ctx, groups[i%benchGroups], batch); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("shards=%d/batch=%d/parallel", shards, n), func(b *testing.B) {
				ctx := context.Background()
				s := memstore.New(memstore.Options{Shards: shards})
				defer s.Close()
				var next atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(7919))
					for pb.Next() {
						if err := s.Commit(ctx, groups[i%benchGroups], batch); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		}
	}
}

// BenchmarkFetch fetches batches of 1, 8 and 100 committed partitions, serial and parallel,
// like BenchmarkCommit.
func BenchmarkFetch(b *testing.B) {
	for _, shards := range []int{memstore.DefaultShards, 1} {
		for _, n := range []int{1, 8, 100} {
			batch, tps := benchBatch(n)
			groups := groupNames()
			ctx := context.Background()
			setup := func(b *testing.B) *memstore.Store {
				s := memstore.New(memstore.Options{Shards: shards})
				for _, g := range groups {
					if err := s.Commit(ctx, g, batch); err != nil {
						b.Fatal(err)
					}
				}
				return s
			}
			b.Run(fmt.Sprintf("shards=%d/batch=%d/serial", shards, n), func(b *testing.B) {
				s := setup(b)
				defer s.Close()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m, err := s.Fetch(ctx, groups[i%benchGroups], tps)
					if err != nil || len(m) != n {
						b.Fatal(len(m), err)
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("shards=%d/batch=%d/parallel", shards, n), func(b *testing.B) {
				s := setup(b)
				defer s.Close()
				var next atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(7919))
					for pb.Next() {
						m, err := s.Fetch(ctx, groups[i%benchGroups], tps)
						if err != nil || len(m) != n {
							b.Error(len(m), err)
							return
						}
						i++
					}
				})
			})
		}
	}
}

// BenchmarkFetchInto is BenchmarkFetch through offsetstore.FetchIntoer, into slices the caller
// reuses: the path protocol takes.
func BenchmarkFetchInto(b *testing.B) {
	for _, n := range []int{1, 8, 100} {
		batch, tps := benchBatch(n)
		groups := groupNames()
		ctx := context.Background()
		s := memstore.New(memstore.Options{})
		for _, g := range groups {
			if err := s.Commit(ctx, g, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("batch=%d/serial", n), func(b *testing.B) {
			dst, found := make([]offsetstore.Offset, n), make([]bool, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.FetchInto(ctx, groups[i%benchGroups], tps, dst, found); err != nil || !found[n-1] {
					b.Fatal(found[n-1], err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("batch=%d/parallel", n), func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				dst, found := make([]offsetstore.Offset, n), make([]bool, n)
				i := int(next.Add(7919))
				for pb.Next() {
					if err := s.FetchInto(ctx, groups[i%benchGroups], tps, dst, found); err != nil || !found[n-1] {
						b.Error(found[n-1], err)
						return
					}
					i++
				}
			})
		})
		s.Close()
	}
}

// BenchmarkCommitSlice is BenchmarkCommit through offsetstore.SliceCommitter, from slices the
// caller reuses: the path protocol takes.
func BenchmarkCommitSlice(b *testing.B) {
	for _, n := range []int{1, 8, 100} {
		batch, tps := benchBatch(n)
		offs := make([]offsetstore.Offset, n)
		for i, tp := range tps {
			offs[i] = batch[tp]
		}
		groups := groupNames()
		ctx := context.Background()
		b.Run(fmt.Sprintf("batch=%d/serial", n), func(b *testing.B) {
			s := memstore.New(memstore.Options{})
			defer s.Close()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.CommitSlice(ctx, groups[i%benchGroups], tps, offs); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("batch=%d/parallel", n), func(b *testing.B) {
			s := memstore.New(memstore.Options{})
			defer s.Close()
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					if err := s.CommitSlice(ctx, groups[i%benchGroups], tps, offs); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkCommitFenced compares Commit with CommitFenced (offsetstore.Fencer) on the same
// batches, serial and parallel, over groups whose fence has moved (op=Commit and
// op=CommitFenced line up for benchstat -col /op): the cost of checking the fence under the
// group's lock.
func BenchmarkCommitFenced(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 8, 100} {
		batch, _ := benchBatch(n)
		groups := groupNames()
		for _, op := range []string{"Commit", "CommitFenced"} {
			commit := func(s *memstore.Store, g string) error {
				if op == "Commit" {
					return s.Commit(ctx, g, batch)
				}
				return s.CommitFenced(ctx, g, 1, batch)
			}
			open := func(b *testing.B) *memstore.Store {
				s := memstore.New(memstore.Options{})
				for _, g := range groups {
					if err := s.SaveGroupState(ctx, g, 0, offsetstore.GroupState{Fence: 1, ProtocolType: "consumer"}); err != nil {
						b.Fatal(err)
					}
				}
				return s
			}
			b.Run(fmt.Sprintf("op=%s/batch=%d/serial", op, n), func(b *testing.B) {
				s := open(b)
				defer s.Close()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := commit(s, groups[i%benchGroups]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("op=%s/batch=%d/parallel", op, n), func(b *testing.B) {
				s := open(b)
				defer s.Close()
				var next atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(7919))
					for pb.Next() {
						if err := commit(s, groups[i%benchGroups]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		}
	}
}
