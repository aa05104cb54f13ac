package filerstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// Benchmarks against the real filer. Compare, in one run:
//
//   - BenchmarkCommit/partitions=64 with BenchmarkCommit/partitions=1 (target: at most 4x);
//   - BenchmarkFetchAll/partitions=1000 with BenchmarkFetchSequential/partitions=1000
//     (target: at most 0.25x);
//   - both with BenchmarkFilerRoundTrip, one LookupDirectoryEntry.

func benchBatch(topics, partitions int) map[offsetstore.TopicPartition]offsetstore.Offset {
	batch := make(map[offsetstore.TopicPartition]offsetstore.Offset, partitions)
	for p := range partitions {
		batch[offsetstore.TopicPartition{Topic: fmt.Sprintf("topic-%d", p%topics), Partition: int32(p)}] = offsetstore.Offset{
			Offset: int64(p), LeaderEpoch: 5, Metadata: "consumer-1", CommitTime: time.Now(),
		}
	}
	return batch
}

// BenchmarkFilerRoundTrip is the filer's floor: one LookupDirectoryEntry of an offset file.
func BenchmarkFilerRoundTrip(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, filerstore.Options{})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1}); err != nil {
		b.Fatal(err)
	}
	client := filerClient(b)
	req := &filer_pb.LookupDirectoryEntryRequest{Directory: s.Root() + "/g/t/0", Name: "offset"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.LookupDirectoryEntry(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit commits a batch of 1, 8 or 64 partitions (over 4 topics) to a group that
// already has them: the steady state of a consumer group.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s := newStore(b, filerstore.Options{})
			batch := benchBatch(4, n)
			if err := s.Commit(ctx, "g", batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Commit(ctx, "g", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitOlderFilers commits 64 partitions as on filers without ObjectTransaction:
// over one StreamMutateEntry stream (4.18-4.28), and in parallel unary CreateEntry calls.
func BenchmarkCommitOlderFilers(b *testing.B) {
	const n = 64
	for _, tc := range []struct {
		name          string
		unimplemented []string
	}{
		{"stream", []string{"ObjectTransaction"}},
		{"unary", newerRPCs},
	} {
		b.Run(fmt.Sprintf("partitions=%d/%s", n, tc.name), func(b *testing.B) {
			ctx := context.Background()
			s := newStoreOn(b, &wrapClient{SeaweedFilerClient: filerClient(b), unimplemented: tc.unimplemented}, filerstore.Options{})
			batch := benchBatch(4, n)
			if err := s.Commit(ctx, "g", batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Commit(ctx, "g", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitSequential commits the 64 partitions of BenchmarkCommit/partitions=64 one
// per call, one after another: what the gateway's per-partition CommitOffset costs today.
func BenchmarkCommitSequential(b *testing.B) {
	const n = 64
	b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
		ctx := context.Background()
		s := newStore(b, filerstore.Options{})
		batch := benchBatch(4, n)
		if err := s.Commit(ctx, "g", batch); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			for tp, o := range batch {
				if err := offsetstore.CommitOne(ctx, s, "g", tp, o); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkFetch fetches a batch of 1, 8 or 64 partitions in one call.
func BenchmarkFetch(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s := newStore(b, filerstore.Options{})
			batch := benchBatch(4, n)
			if err := s.Commit(ctx, "g", batch); err != nil {
				b.Fatal(err)
			}
			keys := offsetstore.SortedPartitions(batch)
			b.ReportAllocs()
			for b.Loop() {
				m, err := s.Fetch(ctx, "g", keys)
				if err != nil || len(m) != n {
					b.Fatal(len(m), err)
				}
			}
		})
	}
}

func benchGroup(b *testing.B, n int) (*filerstore.Store, []offsetstore.TopicPartition) {
	ctx := context.Background()
	s := newStore(b, filerstore.Options{})
	batch := benchBatch(10, n)
	if err := s.Commit(ctx, "g", batch); err != nil {
		b.Fatal(err)
	}
	return s, offsetstore.SortedPartitions(batch)
}

// BenchmarkFetchAll reads a whole group of 1,000 partitions over 10 topics.
func BenchmarkFetchAll(b *testing.B) {
	const n = 1000
	b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
		ctx := context.Background()
		s, _ := benchGroup(b, n)
		b.ReportAllocs()
		for b.Loop() {
			m, err := s.FetchAll(ctx, "g")
			if err != nil || len(m) != n {
				b.Fatal(len(m), err)
			}
		}
	})
	// The same on a filer without TraverseBfsMetadata and LookupDirectoryEntries: paginated
	// listings, then one LookupDirectoryEntry per partition in bounded parallel.
	b.Run(fmt.Sprintf("partitions=%d/legacy-filer", n), func(b *testing.B) {
		ctx := context.Background()
		s, _ := benchGroup(b, n)
		legacy := newStoreOn(b, &wrapClient{SeaweedFilerClient: filerClient(b), unimplemented: newerRPCs}, filerstore.Options{Root: s.Root()})
		b.ReportAllocs()
		for b.Loop() {
			m, err := legacy.FetchAll(ctx, "g")
			if err != nil || len(m) != n {
				b.Fatal(len(m), err)
			}
		}
	})
}

// BenchmarkFetchSequential reads the same group with one single-partition Fetch per
// partition, one after another: what the gateway's FetchAllOffsets costs today.
func BenchmarkFetchSequential(b *testing.B) {
	const n = 1000
	b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
		ctx := context.Background()
		s, keys := benchGroup(b, n)
		b.ReportAllocs()
		for b.Loop() {
			for _, tp := range keys {
				if _, ok, err := offsetstore.FetchOne(ctx, s, "g", tp); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		}
	})
}

// BenchmarkCommitFenced compares Commit with CommitFenced (offsetstore.Fencer) of the same
// batches to a group whose fence has moved: CommitFenced's transactions carry the filer-side
// condition on the group's entry (op=Commit and op=CommitFenced line up for benchstat -col
// /op).
func BenchmarkCommitFenced(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		for _, op := range []string{"Commit", "CommitFenced"} {
			b.Run(fmt.Sprintf("op=%s/partitions=%d", op, n), func(b *testing.B) {
				ctx := context.Background()
				s := newStore(b, filerstore.Options{})
				batch := benchBatch(4, n)
				if err := s.SaveGroupState(ctx, "g", 0, offsetstore.GroupState{Fence: 1, ProtocolType: "consumer"}); err != nil {
					b.Fatal(err)
				}
				commit := func() error {
					if op == "Commit" {
						return s.Commit(ctx, "g", batch)
					}
					return s.CommitFenced(ctx, "g", 1, batch)
				}
				if err := commit(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
