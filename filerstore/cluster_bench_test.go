package filerstore_test

import (
	"context"
	"testing"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/ownership"
)

// BenchmarkOwnerFetch reads a group's offsets (8 partitions, with FetchInto, as package
// protocol answers an OffsetFetch) from four stores side by side: memstore, the filer, and
// the owner's Store of a one-gateway cluster (package ownership) over each. Target: the
// owner over the filer within 2x of memstore.
//
// BenchmarkOwnerCommit commits 8 partitions to the same four: the owner's Store conditions
// each commit on the group's fence inside the same single ObjectTransaction, so over the
// filer it takes one round trip, as a plain Commit does.
func BenchmarkOwnerFetch(b *testing.B) {
	for _, tc := range ownerBenchStores(b) {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			batch := benchBatch(1, 8)
			if err := tc.store.Commit(ctx, "g", batch); err != nil {
				b.Fatal(err)
			}
			tps := offsetstore.SortedPartitions(batch)
			dst, found := make([]offsetstore.Offset, len(tps)), make([]bool, len(tps))
			b.ReportAllocs()
			for b.Loop() {
				if err := offsetstore.FetchInto(ctx, tc.store, "g", tps, dst, found); err != nil || !found[7] {
					b.Fatalf("fetch: %v %v", err, found)
				}
			}
		})
	}
}

func BenchmarkOwnerCommit(b *testing.B) {
	for _, tc := range ownerBenchStores(b) {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			batch := benchBatch(1, 8)
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.store.Commit(ctx, "g", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchStore struct {
	name  string
	store offsetstore.Store
}

func ownerBenchStores(b *testing.B) []benchStore {
	ctx := context.Background()
	owner := func(s offsetstore.Store) offsetstore.Store {
		n, err := ownership.Start(ctx, s, ownership.Options{Addr: "gw:9092"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Store().Close() })
		return n.Store()
	}
	mem := memstore.New(memstore.Options{})
	b.Cleanup(func() { mem.Close() })
	filer := newStore(b, filerstore.Options{})
	filerForOwner, err := filerstore.New(filerClient(b), filerstore.Options{Root: newRoot(b)})
	if err != nil {
		b.Fatal(err)
	}
	return []benchStore{
		{"memstore", mem},
		{"memstore-owner", owner(memstore.New(memstore.Options{}))},
		{"filer", filer},
		{"filer-owner", owner(filerForOwner)},
	}
}
