package ownership_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
	"github.com/offsetkit/offsetkit/ownership"
)

type (
	tp      = offsetstore.TopicPartition
	offsets = map[offsetstore.TopicPartition]offsetstore.Offset
)

const lease = 10 * time.Second

// clock is a fake clock that moves only when the test says.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cluster is several manual nodes over one store, each with its own clock.
type cluster struct {
	t      *testing.T
	store  offsetstore.Store
	nodes  map[int32]*ownership.Node
	clocks map[int32]*clock
}

func newCluster(t *testing.T, store offsetstore.Store) *cluster {
	t.Helper()
	c := &cluster{t: t, store: store, nodes: map[int32]*ownership.Node{}, clocks: map[int32]*clock{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Close()
		}
		store.Close()
	})
	return c
}

// start starts node id with its own clock.
func (c *cluster) start(id int32, opts ownership.Options) *ownership.Node {
	c.t.Helper()
	clk := newClock()
	opts.NodeID, opts.Now, opts.Manual, opts.Lease = id, clk.Now, true, lease
	if opts.Addr == "" {
		opts.Addr = fmt.Sprintf("gw%d:9092", id)
	}
	n, err := ownership.Start(c.t.Context(), c.store, opts)
	if err != nil {
		c.t.Fatalf("Start node %d: %v", id, err)
	}
	c.nodes[id], c.clocks[id] = n, clk
	return n
}

// sync runs one Sync on each of the named nodes, in order, and waits for their loads.
func (c *cluster) sync(ids ...int32) {
	c.t.Helper()
	for _, id := range ids {
		if err := c.nodes[id].Sync(c.t.Context()); err != nil {
			c.t.Fatalf("node %d: Sync: %v", id, err)
		}
		if err := c.nodes[id].Ready(c.t.Context()); err != nil {
			c.t.Fatalf("node %d: Ready: %v", id, err)
		}
	}
}

// advance moves the clocks of the named nodes.
func (c *cluster) advance(d time.Duration, ids ...int32) {
	for _, id := range ids {
		c.clocks[id].Add(d)
	}
}

// counts returns how many shards each node serves.
func (c *cluster) counts() map[int32]int {
	out := map[int32]int{}
	for id, n := range c.nodes {
		out[id] = len(n.OwnedShards())
	}
	return out
}

// checkDisjoint fails when two nodes serve the same shard.
func (c *cluster) checkDisjoint() {
	c.t.Helper()
	owner := map[int]int32{}
	for id, n := range c.nodes {
		for _, s := range n.OwnedShards() {
			if other, ok := owner[s]; ok {
				c.t.Fatalf("split brain: shard %d served by nodes %d and %d", s, other, id)
			}
			owner[s] = id
		}
	}
}

// groupIn returns a group name that hashes to shard.
func groupIn(n *ownership.Node, shard int) string {
	for i := 0; ; i++ {
		g := fmt.Sprintf("group-%d", i)
		if n.ShardOf(g) == shard {
			return g
		}
	}
}

func commit(ctx context.Context, s offsetstore.Store, g string, off int64) error {
	return s.Commit(ctx, g, offsets{{Topic: "t", Partition: 0}: {Offset: off, LeaderEpoch: -1}})
}

func fetch(t *testing.T, s offsetstore.Store, g string) int64 {
	t.Helper()
	o, ok, err := offsetstore.FetchOne(t.Context(), s, g, tp{Topic: "t", Partition: 0})
	if err != nil || !ok {
		t.Fatalf("fetch %q: %v %v", g, ok, err)
	}
	return o.Offset
}

// TestStoreConformance runs the store contract on a one-node cluster's Store.
func TestStoreConformance(t *testing.T) {
	open := func(ctx context.Context) (offsetstore.Store, error) {
		n, err := ownership.Start(ctx, memstore.New(memstore.Options{}), ownership.Options{Addr: "a:1"})
		if err != nil {
			return nil, err
		}
		return n.Store(), nil
	}
	if err := storetest.TestStore(t.Context(), open); err != nil {
		t.Fatal(err)
	}
}

func TestBalanceAndCoordinator(t *testing.T) {
	c := newCluster(t, memstore.New(memstore.Options{}))
	n1 := c.start(1, ownership.Options{})
	if got := len(n1.OwnedShards()); got != ownership.DefaultShards {
		t.Fatalf("a lone node serves %d shards; want all %d", got, ownership.DefaultShards)
	}
	c.start(2, ownership.Options{})
	c.start(3, ownership.Options{})
	for range 3 {
		c.sync(1, 2, 3)
		c.checkDisjoint()
	}
	want := map[int32]int{1: 22, 2: 21, 3: 21}
	if got := c.counts(); !maps(got, want) {
		t.Fatalf("shards per node = %v; want %v", got, want)
	}
	for i := range 200 {
		g := fmt.Sprintf("g%d", i)
		var answers []ownership.Member
		for _, id := range []int32{1, 2, 3} {
			m, ok := c.nodes[id].Coordinator(g)
			if !ok {
				t.Fatalf("node %d knows no coordinator of %q", id, g)
			}
			answers = append(answers, m)
		}
		if answers[0] != answers[1] || answers[1] != answers[2] {
			t.Fatalf("coordinator of %q: nodes answer %v", g, answers)
		}
		if !c.nodes[answers[0].ID].Owns(g) || answers[0].Addr != fmt.Sprintf("gw%d:9092", answers[0].ID) {
			t.Fatalf("coordinator of %q is %v, which does not own it", g, answers[0])
		}
	}
	if ms := c.nodes[2].Members(); len(ms) != 3 || ms[0].ID != 1 || ms[2].Addr != "gw3:9092" {
		t.Fatalf("Members = %v", ms)
	}
}

func maps(a, b map[int32]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRebalance: members that leave (Close) or crash (stop renewing) have their shards taken,
// and a member that comes back takes its share back without losing an offset.
func TestRebalance(t *testing.T) {
	ctx := t.Context()
	c := newCluster(t, memstore.New(memstore.Options{}))
	c.start(1, ownership.Options{})
	c.start(2, ownership.Options{})
	c.start(3, ownership.Options{})
	c.sync(1, 2, 3, 1, 2, 3)
	// Commit to one group per shard through its owner.
	groups := make([]string, ownership.DefaultShards)
	for s := range groups {
		groups[s] = groupIn(c.nodes[1], s)
		m, _ := c.nodes[1].Coordinator(groups[s])
		if err := commit(ctx, c.nodes[m.ID].Store(), groups[s], int64(s)); err != nil {
			t.Fatalf("commit %q at node %d: %v", groups[s], m.ID, err)
		}
	}

	// Node 3 leaves cleanly: the others take its shards on their next Sync.
	if err := c.nodes[3].Close(); err != nil {
		t.Fatal(err)
	}
	delete(c.nodes, 3)
	c.sync(1, 2, 1, 2)
	if got := c.counts(); !maps(got, map[int32]int{1: 32, 2: 32}) {
		t.Fatalf("after node 3 left: %v", got)
	}

	// Node 2 crashes: node 1 waits a lease on its own clock, then takes everything.
	c.advance(lease/2, 1)
	c.sync(1)
	if got := len(c.nodes[1].OwnedShards()); got != 32 {
		t.Fatalf("node 1 took node 2's shards before its lease ran out: %d", got)
	}
	c.advance(lease/2+time.Second, 1)
	c.sync(1)
	if got := len(c.nodes[1].OwnedShards()); got != 64 {
		t.Fatalf("node 1 serves %d shards a lease after node 2 stopped; want 64", got)
	}
	for s, g := range groups {
		if got := fetch(t, c.nodes[1].Store(), g); got != int64(s) {
			t.Fatalf("group %q after failover: offset %d; want %d", g, got, s)
		}
	}

	// Node 2 restarts (a new incarnation with the same id) and takes its share back.
	c.nodes[2].Close()
	delete(c.nodes, 2)
	c.start(2, ownership.Options{})
	c.sync(1, 2, 1, 2)
	if got := c.counts(); !maps(got, map[int32]int{1: 32, 2: 32}) {
		t.Fatalf("after node 2 restarted: %v", got)
	}
	c.checkDisjoint()
	for s, g := range groups {
		m, _ := c.nodes[1].Coordinator(g)
		if got := fetch(t, c.nodes[m.ID].Store(), g); got != int64(s) {
			t.Fatalf("group %q at node %d after rejoin: offset %d; want %d", g, m.ID, got, s)
		}
	}
}

// holdStore is memstore with writes of one group held until the test releases them: a
// write delayed in flight (a paused process, a slow network).
type holdStore struct {
	*memstore.Store
	mu      sync.Mutex
	group   string
	entered chan struct{}
	release chan struct{}
}

func (h *holdStore) hold(group string) (entered, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.group, h.entered, h.release = group, make(chan struct{}), make(chan struct{})
	return h.entered, h.release
}

func (h *holdStore) wait(group string) {
	h.mu.Lock()
	if h.group != group || h.entered == nil {
		h.mu.Unlock()
		return
	}
	entered, release := h.entered, h.release
	h.group, h.entered = "", nil
	h.mu.Unlock()
	close(entered)
	<-release
}

func (h *holdStore) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	h.wait(g)
	return h.Store.CommitFenced(ctx, g, fence, m)
}

// TestDeposedWriteHeld: a deposed owner whose write is held in flight until after the new
// owner took the group over cannot land it, although its own clock says its lease holds.
func TestDeposedWriteHeld(t *testing.T) {
	ctx := t.Context()
	hs := &holdStore{Store: memstore.New(memstore.Options{})}
	c := newCluster(t, hs)
	n1 := c.start(1, ownership.Options{})
	g := "orders"
	if err := commit(ctx, n1.Store(), g, 1); err != nil {
		t.Fatal(err)
	}
	n2 := c.start(2, ownership.Options{})
	c.sync(2)

	// Node 1 sends a commit that the store does not apply yet; then node 1 stalls (its clock
	// does not move, so it believes its lease holds).
	entered, release := hs.hold(g)
	late := make(chan error, 1)
	go func() { late <- commit(ctx, n1.Store(), g, 99) }()
	<-entered

	// Node 2 sees node 1's record unchanged for a lease and takes every shard.
	c.advance(lease+time.Second, 2)
	c.sync(2)
	if !n2.Owns(g) {
		t.Fatalf("node 2 does not own %q after node 1's lease ran out", g)
	}
	if got := fetch(t, n2.Store(), g); got != 1 {
		t.Fatalf("node 2 loaded offset %d; want 1", got)
	}
	if err := commit(ctx, n2.Store(), g, 2); err != nil {
		t.Fatalf("new owner's commit: %v", err)
	}

	close(release)
	if err := <-late; !errors.Is(err, offsetstore.ErrFenced) {
		t.Fatalf("deposed owner's held commit = %v; want ErrFenced", err)
	}
	if got := fetch(t, n2.Store(), g); got != 2 {
		t.Fatalf("after the deposed write: offset %d; want 2", got)
	}
	m, err := hs.Store.FetchAll(ctx, g)
	if err != nil || m[tp{Topic: "t", Partition: 0}].Offset != 2 {
		t.Fatalf("shared store holds %v, %v; want offset 2", m, err)
	}
	// The refusal told node 1 it was deposed: it serves the shard no more, even before its
	// next Sync, and a late write of the same group is refused at once.
	if n1.Owns(g) {
		t.Fatalf("node 1 still serves %q after the store refused its write with a later epoch", g)
	}
	if err := commit(ctx, n1.Store(), g, 100); !errors.Is(err, offsetstore.ErrNotOwner) {
		t.Fatalf("late commit at the deposed node = %v; want ErrNotOwner", err)
	}
}

// TestPausedOwnerStopsServing: an owner whose clock shows its lease lapsed (a paused process
// that resumes) refuses reads and writes until it has renewed and checked the shard records,
// and then serves only what it still owns.
func TestPausedOwnerStopsServing(t *testing.T) {
	ctx := t.Context()
	c := newCluster(t, memstore.New(memstore.Options{}))
	n1 := c.start(1, ownership.Options{})
	g := "g"
	if err := commit(ctx, n1.Store(), g, 5); err != nil {
		t.Fatal(err)
	}
	c.start(2, ownership.Options{})
	c.sync(2)
	c.advance(lease+time.Second, 1, 2) // node 1 was paused for a lease; node 2 ran
	c.sync(2)
	for _, call := range []func() error{
		func() error { return commit(ctx, n1.Store(), g, 6) },
		func() error { _, err := n1.Store().FetchAll(ctx, g); return err },
	} {
		if err := call(); !errors.Is(err, offsetstore.ErrNotOwner) {
			t.Fatalf("paused owner: %v; want ErrNotOwner", err)
		}
	}
	c.sync(1) // resumes: renews, sees node 2 owns everything, and serves nothing
	if got := len(n1.OwnedShards()); got != 0 {
		t.Fatalf("resumed node 1 serves %d shards; want 0 until it is given some", got)
	}
	c.sync(2, 1, 2, 1) // node 2 sees node 1 live again and gives back half
	if got := c.counts(); !maps(got, map[int32]int{1: 32, 2: 32}) {
		t.Fatalf("after node 1 resumed: %v", got)
	}
	m, _ := n1.Coordinator(g)
	if got := fetch(t, c.nodes[m.ID].Store(), g); got != 5 {
		t.Fatalf("offset %d; want 5", got)
	}
}

// TestConcurrentTakeovers: nodes that start together and take free shards at the same
// moment never serve a shard twice, and end balanced.
func TestConcurrentTakeovers(t *testing.T) {
	store := memstore.New(memstore.Options{})
	c := newCluster(t, store)
	// Pre-register five nodes' records so that each sees the others when it first syncs.
	for id := int32(1); id <= 5; id++ {
		c.start(id, ownership.Options{})
	}
	// The first node took every shard when it started alone; make it leave so that all
	// shards are free, then have the four others race for them, repeatedly.
	c.nodes[1].Close()
	delete(c.nodes, 1)
	for round := range 6 {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for id := int32(2); id <= 5; id++ {
			wg.Go(func() {
				if err := c.nodes[id].Sync(t.Context()); err != nil {
					errs <- fmt.Errorf("node %d: %w", id, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		c.checkDisjoint()
	}
	got := c.counts()
	total := 0
	for _, n := range got {
		total += n
		if n != 16 {
			t.Fatalf("shards per node after concurrent rounds: %v; want 16 each", got)
		}
	}
	if total != 64 {
		t.Fatalf("total %d", total)
	}
}

// failAfterApply is memstore whose fenced commits of one group are applied but answered
// with an error: a timeout whose write still landed.
type failAfterApply struct {
	*memstore.Store
	mu    sync.Mutex
	group string
}

func (f *failAfterApply) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	err := f.Store.CommitFenced(ctx, g, fence, m)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && g == f.group {
		f.group = ""
		return errors.New("reply lost")
	}
	return err
}

// TestUnknownOutcomeReloads: after a write whose outcome is unknown, the owner moves the fence
// and reloads the group before serving it again, so memory matches the store.
func TestUnknownOutcomeReloads(t *testing.T) {
	ctx := t.Context()
	fs := &failAfterApply{Store: memstore.New(memstore.Options{})}
	c := newCluster(t, fs)
	n := c.start(1, ownership.Options{})
	if err := commit(ctx, n.Store(), "g", 1); err != nil {
		t.Fatal(err)
	}
	before, err := n.Store().GroupState(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.group = "g"
	fs.mu.Unlock()
	if err := commit(ctx, n.Store(), "g", 2); err == nil {
		t.Fatal("commit with a lost reply succeeded")
	}
	if got := fetch(t, n.Store(), "g"); got != 2 {
		t.Fatalf("fetch after a commit whose reply was lost: %d; want 2 (what the store holds)", got)
	}
	after, err := n.Store().GroupState(ctx, "g")
	if err != nil || after.Fence <= before.Fence {
		t.Fatalf("fence %d -> %d, %v; want it moved", before.Fence, after.Fence, err)
	}
	if err := n.Store().CommitFenced(ctx, "g", before.Fence, offsets{{Topic: "t"}: {Offset: 3}}); !errors.Is(err, offsetstore.ErrFenced) {
		t.Fatalf("commit under the fence before the reload = %v; want ErrFenced", err)
	}
}

// holdList is memstore whose ListGroups waits until the test releases it: a shard load that
// takes time.
type holdList struct {
	*memstore.Store
	release chan struct{}
}

func (h *holdList) ListGroups(ctx context.Context) ([]string, error) {
	if h.release != nil {
		<-h.release
	}
	return h.Store.ListGroups(ctx)
}

// TestLoading: requests for a shard being loaded fail with ErrLoading, then are served.
func TestLoading(t *testing.T) {
	ctx := t.Context()
	hl := &holdList{Store: memstore.New(memstore.Options{})}
	c := newCluster(t, hl)
	c.start(1, ownership.Options{})
	n2 := c.start(2, ownership.Options{})
	c.sync(1) // node 1 releases half
	hl.release = make(chan struct{})
	if err := n2.Sync(ctx); err != nil { // takes its half; the load waits on ListGroups
		t.Fatal(err)
	}
	g := groupIn(n2, n2.OwnedShards()[0])
	if err := commit(ctx, n2.Store(), g, 1); !errors.Is(err, offsetstore.ErrLoading) {
		t.Fatalf("commit during the load = %v; want ErrLoading", err)
	}
	if m, ok := n2.Coordinator(g); !ok || m.ID != 2 {
		t.Fatalf("coordinator during the load = %v %v; want node 2", m, ok)
	}
	close(hl.release)
	if err := n2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := commit(ctx, n2.Store(), g, 1); err != nil {
		t.Fatalf("commit after the load: %v", err)
	}
	if err := commit(ctx, c.nodes[1].Store(), g, 2); !errors.Is(err, offsetstore.ErrNotOwner) {
		t.Fatalf("commit at the node that released the shard = %v; want ErrNotOwner", err)
	}
}

func TestNodeIDs(t *testing.T) {
	ctx := t.Context()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	a, err := ownership.Start(ctx, store, ownership.Options{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ownership.Start(ctx, store, ownership.Options{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.ID() != ownership.FirstAllocatedID || b.ID() != ownership.FirstAllocatedID+1 {
		t.Fatalf("allocated ids %d, %d", a.ID(), b.ID())
	}
	for _, bad := range []ownership.Options{{NodeID: -1}, {NodeID: ownership.FirstAllocatedID}, {Shards: ownership.MaxShards + 1}} {
		if _, err := ownership.Start(ctx, store, bad); !errors.Is(err, offsetstore.ErrInvalid) {
			t.Errorf("Start(%+v) = %v; want ErrInvalid", bad, err)
		}
	}
	if _, err := ownership.Start(ctx, plainStore{store}, ownership.Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Start over a store without Registry = %v; want ErrUnsupported", err)
	}
}

type plainStore struct{ offsetstore.Store }

// TestDeposedByRestart: a process restarted with the same node id deposes the old one, which
// stops serving at its next renewal.
func TestDeposedByRestart(t *testing.T) {
	ctx := t.Context()
	store := memstore.New(memstore.Options{})
	c := newCluster(t, store)
	old := c.start(3, ownership.Options{})
	oldClock := c.clocks[3]
	if len(old.OwnedShards()) != ownership.DefaultShards {
		t.Fatal("old incarnation does not serve everything")
	}
	fresh := c.start(3, ownership.Options{}) // replaces c.nodes[3]
	if got := len(fresh.OwnedShards()); got != ownership.DefaultShards {
		t.Fatalf("the new incarnation serves %d shards; want all (the old one's claims are void)", got)
	}
	oldClock.Add(lease / 4)
	if err := old.Sync(ctx); !errors.Is(err, ownership.ErrDeposed) {
		t.Fatalf("old incarnation's Sync = %v; want ErrDeposed", err)
	}
	if n := len(old.OwnedShards()); n != 0 {
		t.Fatalf("deposed incarnation serves %d shards", n)
	}
	old.Close()
	if got := len(fresh.OwnedShards()); got != ownership.DefaultShards {
		t.Fatalf("closing the old incarnation took shards from the new one: %d", got)
	}
	if !slices.Contains(fresh.Members(), ownership.Member{ID: 3, Addr: "gw3:9092"}) {
		t.Fatalf("members %v", fresh.Members())
	}
}

// TestRestartAtSameAddress: a node started without an id at the address of a member record
// (its crashed previous incarnation) takes that id and, at once, that member's shards.
func TestRestartAtSameAddress(t *testing.T) {
	ctx := t.Context()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	crashed, err := ownership.Start(ctx, store, ownership.Options{Addr: "gw:9092", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	// crashed never syncs again and is never closed; its record stays.
	again, err := ownership.Start(ctx, store, ownership.Options{Addr: "gw:9092", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ID() != crashed.ID() {
		t.Fatalf("restart at the same address got id %d; want %d", again.ID(), crashed.ID())
	}
	if got := len(again.OwnedShards()); got != ownership.DefaultShards {
		t.Fatalf("the restarted node serves %d shards at once; want all %d", got, ownership.DefaultShards)
	}
	other, err := ownership.Start(ctx, store, ownership.Options{Addr: "gw:9093", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.ID() == again.ID() {
		t.Fatalf("a node at another address got the same id %d", other.ID())
	}
}

// TestGoneMember: a member that Options.Gone reports gone (its address refuses connections)
// loses its shards at once, without waiting out its lease; one reported alive keeps them.
func TestGoneMember(t *testing.T) {
	for _, gone := range []bool{false, true} {
		t.Run(fmt.Sprint("gone=", gone), func(t *testing.T) {
			ctx := t.Context()
			store := memstore.New(memstore.Options{})
			defer store.Close()
			crashed, err := ownership.Start(ctx, store, ownership.Options{NodeID: 1, Addr: "old:9092", Manual: true})
			if err != nil {
				t.Fatal(err)
			}
			_ = crashed // never syncs again, never closed
			var asked []ownership.Member
			n, err := ownership.Start(ctx, store, ownership.Options{NodeID: 2, Addr: "new:9092", Manual: true,
				Gone: func(_ context.Context, m ownership.Member) bool { asked = append(asked, m); return gone }})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if len(asked) != 1 || asked[0] != (ownership.Member{ID: 1, Addr: "old:9092"}) {
				t.Fatalf("Gone was asked about %v; want member 1 once", asked)
			}
			want := 0
			if gone {
				want = ownership.DefaultShards
			}
			if got := len(n.OwnedShards()); got != want {
				t.Fatalf("the new node serves %d shards; want %d", got, want)
			}
		})
	}
}
