package filerstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCommitsShareRoundTrips: commits of other groups that arrive while the round trips
// allowed in flight are all busy wait for one to end and then go together, in one
// ObjectTransactionBatch; each is answered with its own transaction's outcome. The first
// round trips are held until the test has seen every other commit queue up, so what goes in
// which round trip is deterministic.
func TestCommitsShareRoundTrips(t *testing.T) {
	boom := status.Error(codes.Unavailable, "injected batch failure")
	const commits = 5
	tests := []struct {
		name          string
		trips         int // Options.TxnRoundTrips: the first trips commits go alone
		unimplemented []string
		failBatch     bool
		badGroup      bool // the filer fails the transaction of queued commit g3
		staleFence    bool // every commit is fenced at 0, and g3's fence has moved to 1
		want          map[string]int
	}{
		{name: "queued commits go in one batch", trips: 1,
			want: map[string]int{"ObjectTransaction": 1, "ObjectTransactionBatch": 1}},
		{name: "two round trips in flight, then one batch", trips: 2,
			want: map[string]int{"ObjectTransaction": 2, "ObjectTransactionBatch": 1}},
		{name: "a failed batch fails only its commits", trips: 1, failBatch: true,
			want: map[string]int{"ObjectTransaction": 1, "ObjectTransactionBatch": 1}},
		{name: "a failed transaction fails only its commit", trips: 2, badGroup: true,
			want: map[string]int{"ObjectTransaction": 2, "ObjectTransactionBatch": 1}},
		{name: "a fenced commit whose fence moved fails alone", trips: 1, staleFence: true,
			want: map[string]int{"ObjectTransaction": 1, "ObjectTransactionBatch": 1}},
		{name: "a filer without the batch RPC", trips: 1, unimplemented: []string{"ObjectTransactionBatch"},
			want: map[string]int{"ObjectTransaction": commits, "ObjectTransactionBatch": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			entered := make(chan struct{})
			release := make(chan struct{})
			var held atomic.Int64
			c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: tt.unimplemented}
			s := newStoreOn(t, c, filerstore.Options{TxnRoundTrips: tt.trips})
			// The store learns what the filer offers before the test holds round trips.
			if err := offsetstore.CommitOne(ctx, s, "warm", offsetstore.TopicPartition{Topic: "t"}, offsetstore.Offset{Offset: 1}); err != nil {
				t.Fatal(err)
			}
			c.reset()
			c.fail = func(method string) error {
				if method == "ObjectTransaction" {
					if n := held.Add(1); n <= int64(tt.trips) {
						if n == int64(tt.trips) {
							close(entered)
						}
						<-release
					}
				}
				if method == "ObjectTransactionBatch" && tt.failBatch {
					return boom
				}
				return nil
			}
			if tt.badGroup {
				c.txnFault = func(txn *filer_pb.ObjectTransactionRequest) *filer_pb.ObjectTransactionResponse {
					if txn.LockKey == s.Root()+"/g3" {
						return &filer_pb.ObjectTransactionResponse{Error: "injected failure", ErrorCode: filer_pb.FilerError_READ_ONLY}
					}
					return nil
				}
			}
			offs := func(g int) map[offsetstore.TopicPartition]offsetstore.Offset {
				m := make(map[offsetstore.TopicPartition]offsetstore.Offset)
				for p := range 8 {
					m[offsetstore.TopicPartition{Topic: "t", Partition: int32(p)}] = offsetstore.Offset{Offset: int64(100*g + p), LeaderEpoch: -1}
				}
				return m
			}
			commit := func(g int) error {
				if tt.staleFence {
					return s.CommitFenced(ctx, fmt.Sprintf("g%d", g), 0, offs(g))
				}
				return s.Commit(ctx, fmt.Sprintf("g%d", g), offs(g))
			}
			if tt.staleFence {
				// Another store (another gateway) moves g3's fence.
				other := newStoreOn(t, filerClient(t), filerstore.Options{Root: s.Root()})
				if fence, err := offsetstore.AdvanceFence(ctx, other, "g3"); err != nil || fence != 1 {
					t.Fatalf("AdvanceFence = %d, %v", fence, err)
				}
			}
			errs := make([]error, commits)
			var wg sync.WaitGroup
			for g := range tt.trips {
				wg.Go(func() { errs[g] = commit(g) })
			}
			<-entered
			for g := tt.trips; g < commits; g++ {
				wg.Go(func() { errs[g] = commit(g) })
			}
			for filerstore.QueuedTxns(s) < commits-tt.trips {
				time.Sleep(time.Millisecond) // waiting for a state, not deciding an outcome
			}
			close(release)
			wg.Wait()

			c.mu.Lock()
			got := fmt.Sprint(c.calls)
			c.mu.Unlock()
			if got != fmt.Sprint(tt.want) {
				t.Errorf("RPCs %v, want %v", got, tt.want)
			}
			for g, err := range errs {
				failed := (tt.failBatch && g >= tt.trips) || ((tt.badGroup || tt.staleFence) && g == 3)
				group := fmt.Sprintf("g%d", g)
				stored, ferr := s.FetchAll(ctx, group)
				if ferr != nil {
					t.Fatal(ferr)
				}
				switch {
				case failed && err == nil:
					t.Errorf("commit of %s succeeded, want an error", group)
				case failed:
					var se *offsetstore.Error
					if !errors.As(err, &se) || se.Group != group {
						t.Errorf("commit of %s: %v, want an *offsetstore.Error for it", group, err)
					}
					if tt.failBatch && !errors.Is(err, boom) {
						t.Errorf("commit of %s: %v, want the batch's error", group, err)
					}
					if tt.staleFence && !errors.Is(err, offsetstore.ErrFenced) {
						t.Errorf("commit of %s: %v, want ErrFenced", group, err)
					}
					if len(stored) != 0 {
						t.Errorf("failed commit of %s stored %v", group, stored)
					}
				case err != nil:
					t.Errorf("commit of %s: %v", group, err)
				default:
					assertOffsets(t, group, stored, offs(g))
				}
			}
			// Nothing stays queued, and the next commit is one round trip again.
			c.reset()
			if err := s.Commit(ctx, "g1", offs(1)); err != nil {
				t.Fatal(err)
			}
			if n := c.count("ObjectTransaction"); n != 1 || len(c.calls) != 1 {
				t.Errorf("a lone commit after the batch: RPCs %v, want one ObjectTransaction", c.calls)
			}
		})
	}
}

// TestQueuedCommitGivesUp: a queued commit whose context ends is answered at once with its
// context's error and never sent, while the round trip in flight completes.
func TestQueuedCommitGivesUp(t *testing.T) {
	ctx := testCtx(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var held atomic.Bool
	c := &wrapClient{SeaweedFilerClient: filerClient(t), fail: func(method string) error {
		if method == "ObjectTransaction" && held.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	}}
	s := newStoreOn(t, c, filerstore.Options{TxnRoundTrips: 1})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	first := make(chan error, 1)
	go func() { first <- offsetstore.CommitOne(ctx, s, "g0", tp, offsetstore.Offset{Offset: 1}) }()
	<-entered
	qctx, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { second <- offsetstore.CommitOne(qctx, s, "g1", tp, offsetstore.Offset{Offset: 2}) }()
	for filerstore.QueuedTxns(s) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled queued commit: %v, want context.Canceled", err)
	}
	if n := filerstore.QueuedTxns(s); n != 0 {
		t.Fatalf("%d transactions still queued", n)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got, err := s.FetchAll(ctx, "g1"); err != nil || len(got) != 0 {
		t.Fatalf("group of the cancelled commit: %v, %v; want nothing stored", got, err)
	}
	if n := c.count("ObjectTransactionBatch") + c.count("ObjectTransaction"); n != 1 {
		t.Fatalf("%d transaction RPCs, want 1", n)
	}
}
