package filerstore_test

import (
	"testing"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// TestCompletePendingLosesToLaterCommit holds the write of a transaction's offsets (its
// commit marker) after it read what is committed, and lands a plain commit meanwhile: the plain
// commit was made after the transaction staged its offset, so it must stay (Kafka replays the
// later commit over the transaction's).
func TestCompletePendingLosesToLaterCommit(t *testing.T) {
	ctx := testCtx(t)
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "no offset before", true: "an offset before"}[existing], func(t *testing.T) {
			h := &holdClient{SeaweedFilerClient: filerClient(t)}
			s := newStoreOn(t, h, filerstore.Options{})
			if existing {
				if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1, LeaderEpoch: -1}); err != nil {
					t.Fatal(err)
				}
			}
			txn := offsetstore.PendingTxn{TransactionalID: "tx", ProducerID: 7}
			if err := s.StagePending(ctx, "g", txn, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 50, LeaderEpoch: -1}}); err != nil {
				t.Fatal(err)
			}
			h.arm()
			done := make(chan error, 1)
			go func() { done <- s.CompletePending(ctx, "g", 7, true) }()
			select {
			case <-h.arrived:
			case <-ctx.Done():
				t.Fatal("the completion never sent a transaction")
			}
			if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 90, LeaderEpoch: -1}); err != nil {
				t.Fatal(err)
			}
			close(h.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got, ok, err := offsetstore.FetchOne(ctx, s, "g", tp)
			if err != nil || !ok || got.Offset != 90 {
				t.Fatalf("t/0 = %+v, %v, %v; want the later plain commit, 90", got, ok, err)
			}
			if ps, err := s.PendingPartitions(ctx, "g"); err != nil || len(ps) != 0 {
				t.Fatalf("PendingPartitions after the completion = %v, %v; want none", ps, err)
			}
		})
	}
}
