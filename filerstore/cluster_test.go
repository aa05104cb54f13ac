package filerstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
	"github.com/offsetkit/offsetkit/ownership"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// fakeClock moves only when a test says.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const clusterLease = 10 * time.Second

// gateway is one cluster member: its own Store on the shared root (its own process, as far
// as the filer can tell), its own node and clock.
type gateway struct {
	store *heldStore
	node  *ownership.Node
	clock *fakeClock
}

// heldStore is a filerstore whose fenced commits of one group can be held before they are
// sent, until the test releases them: a write delayed in a paused process.
type heldStore struct {
	*filerstore.Store
	mu      sync.Mutex
	group   string
	entered chan struct{}
	release chan struct{}
}

func (h *heldStore) hold(group string) (entered, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.group, h.entered, h.release = group, make(chan struct{}), make(chan struct{})
	return h.entered, h.release
}

func (h *heldStore) CommitFenced(ctx context.Context, g string, fence int64, m map[offsetstore.TopicPartition]offsetstore.Offset) error {
	h.mu.Lock()
	var entered, release chan struct{}
	if h.group == g && h.entered != nil {
		entered, release = h.entered, h.release
		h.group, h.entered = "", nil
	}
	h.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	return h.Store.CommitFenced(ctx, g, fence, m)
}

func startGateway(t *testing.T, root string, id int32) *gateway {
	t.Helper()
	gw := &gateway{store: &heldStore{Store: newStoreOn(t, filerClient(t), filerstore.Options{Root: root})}, clock: &fakeClock{t: time.Unix(1_000_000, 0)}}
	n, err := ownership.Start(testCtx(t), gw.store, ownership.Options{NodeID: id, Addr: fmt.Sprintf("gw%d:9092", id), Lease: clusterLease, Now: gw.clock.Now, Manual: true, Shards: 16})
	if err != nil {
		t.Fatalf("Start node %d: %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	gw.node = n
	return gw
}

func (gw *gateway) sync(t *testing.T) {
	t.Helper()
	if err := gw.node.Sync(testCtx(t)); err != nil {
		t.Fatalf("node %d: Sync: %v", gw.node.ID(), err)
	}
	if err := gw.node.Ready(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func disjoint(t *testing.T, gws ...*gateway) map[int32]int {
	t.Helper()
	owner := map[int]int32{}
	counts := map[int32]int{}
	for _, gw := range gws {
		for _, s := range gw.node.OwnedShards() {
			if other, ok := owner[s]; ok {
				t.Fatalf("split brain: shard %d served by nodes %d and %d", s, other, gw.node.ID())
			}
			owner[s] = gw.node.ID()
			counts[gw.node.ID()]++
		}
	}
	return counts
}

var p0 = offsetstore.TopicPartition{Topic: "t", Partition: 0}

// TestClusterOverFiler: three gateways on one filer root divide the shards, agree on every
// group's coordinator, and when one stalls the others take its groups with every offset; the
// stalled one's held write is refused by the filer after the takeover.
func TestClusterOverFiler(t *testing.T) {
	ctx := testCtx(t)
	root := newRoot(t)
	a := startGateway(t, root, 1)
	b := startGateway(t, root, 2)
	c := startGateway(t, root, 3)
	for range 2 {
		for _, gw := range []*gateway{a, b, c} {
			gw.sync(t)
		}
	}
	if got := disjoint(t, a, b, c); got[1] != 6 || got[2] != 5 || got[3] != 5 {
		t.Fatalf("shards per node = %v; want 6, 5, 5", got)
	}
	byID := map[int32]*gateway{1: a, 2: b, 3: c}
	groups := []string{"orders", "payments", "audit", "g/with/slashes", ""}
	for i, g := range groups {
		m, ok := a.node.Coordinator(g)
		for _, gw := range []*gateway{b, c} {
			if m2, ok2 := gw.node.Coordinator(g); m2 != m || ok2 != ok {
				t.Fatalf("coordinator of %q: node 1 says %v, node %d says %v", g, m, gw.node.ID(), m2)
			}
		}
		if err := byID[m.ID].node.Store().Commit(ctx, g, map[offsetstore.TopicPartition]offsetstore.Offset{p0: {Offset: int64(i + 1), LeaderEpoch: -1}}); err != nil {
			t.Fatalf("commit %q at its coordinator %d: %v", g, m.ID, err)
		}
		other := byID[m.ID%3+1]
		if _, err := other.node.Store().FetchAll(ctx, g); !errors.Is(err, offsetstore.ErrNotOwner) {
			t.Fatalf("fetch of %q at node %d, not its coordinator = %v; want ErrNotOwner", g, other.node.ID(), err)
		}
	}

	// Node 1 stalls with a commit held in flight; its clock stops, so it believes it still
	// owns its shards.
	var target string
	for _, g := range groups {
		if m, _ := a.node.Coordinator(g); m.ID == 1 {
			target = g
			break
		}
	}
	if target == "" {
		t.Fatal("node 1 coordinates none of the groups")
	}
	entered, release := a.store.hold(target)
	late := make(chan error, 1)
	go func() {
		late <- a.node.Store().Commit(ctx, target, map[offsetstore.TopicPartition]offsetstore.Offset{p0: {Offset: 999, LeaderEpoch: -1}})
	}()
	<-entered

	b.clock.Add(clusterLease + time.Second)
	c.clock.Add(clusterLease + time.Second)
	for range 2 {
		b.sync(t)
		c.sync(t)
	}
	b.sync(t) // b's view of the shard records includes c's last moves
	if got := disjoint(t, b, c); got[2] != 8 || got[3] != 8 {
		t.Fatalf("after node 1 stalled: shards %v; want 8 and 8", got)
	}
	m, ok := b.node.Coordinator(target)
	if !ok || m.ID == 1 {
		t.Fatalf("coordinator of %q after the takeover: %v %v", target, m, ok)
	}
	newOwner := byID[m.ID]
	if err := newOwner.node.Store().Commit(ctx, target, map[offsetstore.TopicPartition]offsetstore.Offset{p0: {Offset: 1000, LeaderEpoch: -1}}); err != nil {
		t.Fatalf("new owner's commit: %v", err)
	}
	close(release)
	if err := <-late; !errors.Is(err, offsetstore.ErrFenced) {
		t.Fatalf("stalled owner's held commit = %v; want ErrFenced", err)
	}
	for i, g := range groups {
		m, _ := b.node.Coordinator(g)
		want := int64(i + 1)
		if g == target {
			want = 1000
		}
		o, ok, err := offsetstore.FetchOne(ctx, byID[m.ID].node.Store(), g, p0)
		if err != nil || !ok || o.Offset != want {
			t.Fatalf("group %q at node %d: %v %v %v; want offset %d", g, m.ID, o.Offset, ok, err, want)
		}
		// The filer itself holds the same, read by a store without a cache.
		raw, err := a.store.Store.FetchAll(ctx, g)
		if err != nil || raw[p0].Offset != want {
			t.Fatalf("the filer holds %v, %v for %q; want offset %d", raw, err, g, want)
		}
	}
}

// TestConcurrentTakeoversOverFiler: gateways that take free shards from the filer at the same
// moment never serve one twice.
func TestConcurrentTakeoversOverFiler(t *testing.T) {
	root := newRoot(t)
	first := startGateway(t, root, 1)
	var gws []*gateway
	for id := int32(2); id <= 5; id++ {
		gws = append(gws, startGateway(t, root, id))
	}
	if err := first.node.Close(); err != nil { // every shard is free now
		t.Fatal(err)
	}
	for round := range 4 {
		var wg sync.WaitGroup
		errs := make([]error, len(gws))
		for i, gw := range gws {
			wg.Go(func() { errs[i] = gw.node.Sync(testCtx(t)) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		disjoint(t, gws...)
	}
	if got := disjoint(t, gws...); len(got) != 4 || got[2]+got[3]+got[4]+got[5] != 16 {
		t.Fatalf("shards after concurrent takeovers: %v; want 4 each", got)
	}
}

// TestOwnerStoreConformanceOverFiler runs the store contract on a one-gateway cluster's Store
// over the filer: offsets and group state from memory, writes through.
func TestOwnerStoreConformanceOverFiler(t *testing.T) {
	open := func(ctx context.Context) (offsetstore.Store, error) {
		s, err := filerstore.New(filerClient(t), filerstore.Options{Root: newRoot(t)})
		if err != nil {
			return nil, err
		}
		n, err := ownership.Start(ctx, s, ownership.Options{Addr: "gw:9092"})
		if err != nil {
			s.Close()
			return nil, err
		}
		return n.Store(), nil
	}
	if err := storetest.TestStore(testCtx(t), open); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryNeedsTransactions: on a filer without ObjectTransaction, records cannot be
// written conditionally, and PutRecord says so.
func TestRegistryNeedsTransactions(t *testing.T) {
	old := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: []string{"ObjectTransaction"}}
	s := newStoreOn(t, old, filerstore.Options{})
	if _, err := s.PutRecord(testCtx(t), "c", "a", "", []byte("x")); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("PutRecord without ObjectTransaction = %v; want ErrUnsupported", err)
	}
	root, err := filerstore.New(filerClient(t), filerstore.Options{Root: "/"})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Records(testCtx(t), "c"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Records with Root / = %v; want ErrUnsupported", err)
	}
}

// TestRecordLayout: records live beside the offsets, under Root.offsetkit/cluster, where the
// SeaweedFS gateway, which lists Root, never looks.
func TestRecordLayout(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	rev, err := s.PutRecord(ctx, "ownership.nodes", "7", "", []byte(`{"id":7}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := filerClient(t).LookupDirectoryEntry(ctx, &filer_pb.LookupDirectoryEntryRequest{Directory: s.Root() + ".offsetkit/cluster/ownership.nodes", Name: "7"})
	if err != nil || resp.Entry == nil {
		t.Fatalf("record entry: %v %v", resp, err)
	}
	e := resp.Entry
	if got := fmt.Sprintf("%x", e.Attributes.Md5); got != rev {
		t.Fatalf("entry MD5 %s, revision %s; want equal", got, rev)
	}
	gs, err := s.ListGroups(ctx)
	if err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups = %q, %v; want none", gs, err)
	}
}
