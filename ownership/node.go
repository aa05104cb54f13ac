package ownership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Defaults of Options.
const (
	// DefaultLease is how long a member that stopped renewing its record keeps its shards.
	DefaultLease = 10 * time.Second
	// DefaultShards is the number of shards a new cluster divides groups into.
	DefaultShards = 64
	// MaxShards bounds Options.Shards.
	MaxShards = 4096
	// DefaultLoadParallelism bounds the concurrent store calls that load a taken shard.
	DefaultLoadParallelism = 16
)

// ErrDeposed is returned by Sync once another process registered with this node's id: the
// node serves nothing from then on.
var ErrDeposed = errors.New("ownership: another process took over this node id")

// Options configures a Node. The zero value works: an allocated node id, no advertised
// address, DefaultLease, DefaultShards.
type Options struct {
	// NodeID is the node's id (a Kafka broker id), 1 to MaxNodeID. 0 takes the id of the
	// member record advertised at Addr, if there is one (this process's previous
	// incarnation: two live processes cannot listen at one address), and otherwise allocates
	// a new id through the store, from FirstAllocatedID up. A process that restarts with the
	// same id takes its record, and the shards of its previous incarnation, over at once; the
	// previous incarnation, if it still runs, is deposed.
	NodeID int32
	// Addr is the address other members and clients reach this node at (host:port), as
	// Node.Coordinator and Node.Members report it.
	Addr string
	// Lease is how long other members wait, on their own clocks, for this node's record to
	// change before they consider it gone and take its shards. The node renews its record
	// every Lease/4 and stops serving when Lease*7/8 has passed since it sent its last
	// successful renewal. 0 means DefaultLease.
	Lease time.Duration
	// Interval is how often the node renews, looks at the other members and balances the
	// shards. 0 means Lease/10.
	Interval time.Duration
	// Shards is the number of shards a new cluster divides groups into; a node that joins an
	// existing cluster uses the cluster's number (see Node.Shards). 0 means DefaultShards; at
	// most MaxShards.
	Shards int
	// Now is the clock. nil is time.Now. Only differences between its readings matter.
	Now func() time.Time
	// Manual starts no goroutine: the caller calls Sync (tests with a fake clock do).
	Manual bool
	// OnChange, when not nil, is told when the node gains a shard, once its groups are
	// loaded and before requests for them are served (Store.GroupStates answers during the
	// call, so a group coordinator can load the shard's groups), and when it loses one (not
	// always before: a member may learn it was deposed after the fact). It is called from
	// the node's goroutines, one call at a time, and must not call Sync or Close.
	OnChange func(Change)
	// Gone, when not nil, is asked whether a member that may have stopped certainly does
	// not serve any more (a gateway answers true when the member's address refuses
	// connections): such a member counts as gone at once instead of after a lease, so a
	// crashed process restarted elsewhere, or a cluster restarted together, does not wait
	// out the leases of the dead. It is asked once about each member when this node first
	// syncs, and once more about a member whose record has not changed for a quarter of a
	// lease. Only how soon shards move depends on it: a wrong true answer moves shards that
	// the fences keep safe. It must return within a second or so.
	Gone func(ctx context.Context, m Member) bool
	// LoadParallelism bounds the concurrent store calls that load a taken shard. 0 means
	// DefaultLoadParallelism.
	LoadParallelism int
	// Logger receives ownership changes at info level and store failures at warn level. nil
	// discards.
	Logger *slog.Logger
}

// Member is a live member of the cluster.
type Member struct {
	ID   int32
	Addr string
}

// Change is a shard that a node gained or lost.
type Change struct {
	Shard  int
	Epoch  int64 // the shard's epoch while this node owns it
	Gained bool  // false: lost
}

// Node is one member of a cluster of processes sharing an offset store. It is safe for
// concurrent use. Close stops its goroutines and leaves the cluster.
type Node struct {
	base   offsetstore.Store
	reg    offsetstore.Registry
	fencer offsetstore.Fencer

	id       int32
	addr     string
	inc      string
	nshards  int
	lease    time.Duration
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	onChange func(Change)
	gone     func(context.Context, Member) bool
	par      int
	store    *Store

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	syncMu   sync.Mutex // serializes Sync and Close; guards the fields below it
	selfRev  string
	beat     uint64
	observed map[int32]*observation

	notifyMu sync.Mutex // serializes OnChange calls

	mu        sync.RWMutex
	lastRenew time.Time            // when the last successful renewal was sent; zero: none
	live      map[int32]nodeInfo   // live members, this node included while its lease holds
	shards    []shardRec           // the latest view of every shard record
	owned     map[int]*servedShard // the shards this node serves
	deposed   bool
	closed    bool
}

// observation is what a node saw of a member record: its revision and since when, on the
// node's clock.
type observation struct {
	rec  offsetstore.Record
	info nodeInfo
	ok   bool // info parsed
	seen time.Time
	// probes counts the Gone questions asked about this revision; gone is the last answer.
	probes int
	gone   bool
}

type shardRec struct {
	rec    offsetstore.Record
	info   shardInfo
	exists bool
}

// Start joins the cluster of processes sharing store: it registers this node (allocating
// its id when opts.NodeID is 0), takes its share of the shards, waits until their groups are
// loaded or ctx is done, and starts the node's goroutine (unless opts.Manual). store must
// implement offsetstore.Registry and offsetstore.Fencer (memstore and filerstore do). The
// node does not close store; Node.Store returns the Store to serve its groups through.
func Start(ctx context.Context, store offsetstore.Store, opts Options) (*Node, error) {
	reg, ok := store.(offsetstore.Registry)
	if !ok {
		return nil, fmt.Errorf("ownership: store %T is not an offsetstore.Registry: %w", store, errors.ErrUnsupported)
	}
	fencer, ok := store.(offsetstore.Fencer)
	if !ok {
		return nil, fmt.Errorf("ownership: store %T is not an offsetstore.Fencer: %w", store, errors.ErrUnsupported)
	}
	if opts.NodeID < 0 || opts.NodeID > MaxNodeID {
		return nil, fmt.Errorf("%w: ownership: node id %d is not in 1..%d (0 allocates one)", offsetstore.ErrInvalid, opts.NodeID, MaxNodeID)
	}
	if opts.Shards < 0 || opts.Shards > MaxShards {
		return nil, fmt.Errorf("%w: ownership: %d shards is not in 1..%d", offsetstore.ErrInvalid, opts.Shards, MaxShards)
	}
	var incb [8]byte
	_, _ = rand.Read(incb[:])
	n := &Node{
		base: store, reg: reg, fencer: fencer,
		id: opts.NodeID, addr: opts.Addr, inc: hex.EncodeToString(incb[:]),
		lease: opts.Lease, interval: opts.Interval, now: opts.Now, log: opts.Logger,
		onChange: opts.OnChange, gone: opts.Gone, par: opts.LoadParallelism,
		observed: make(map[int32]*observation),
		live:     make(map[int32]nodeInfo),
		owned:    make(map[int]*servedShard),
	}
	if n.lease <= 0 {
		n.lease = DefaultLease
	}
	if n.interval <= 0 {
		n.interval = n.lease / 10
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.par <= 0 {
		n.par = DefaultLoadParallelism
	}
	want := opts.Shards
	if want == 0 {
		want = DefaultShards
	}
	var err error
	if n.nshards, err = clusterShards(ctx, reg, want); err != nil {
		return nil, err
	}
	if n.id == 0 && n.addr != "" {
		if n.id, err = idAt(ctx, reg, n.addr); err != nil {
			return nil, err
		}
	}
	if n.id == 0 {
		if n.id, err = allocateID(ctx, reg); err != nil {
			return nil, err
		}
	}
	n.log = n.log.With("node", n.id)
	n.shards = make([]shardRec, n.nshards)
	n.store = &Store{n: n, base: store, fencer: fencer}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.Sync(ctx); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.Ready(ctx); err != nil {
		n.Close()
		return nil, err
	}
	if !opts.Manual {
		n.wg.Add(1)
		go n.run()
	}
	return n, nil
}

func (n *Node) run() {
	defer n.wg.Done()
	t := time.NewTicker(n.interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			if err := n.Sync(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Warn("ownership sync failed", "err", err)
			}
		}
	}
}

// ID returns the node's id.
func (n *Node) ID() int32 { return n.id }

// Addr returns the node's advertised address.
func (n *Node) Addr() string { return n.addr }

// Shards returns the cluster's number of shards.
func (n *Node) Shards() int { return n.nshards }

// Store returns the Store that serves the groups this node owns (see Store).
func (n *Node) Store() *Store { return n.store }

// ShardOf returns the shard of group: FNV-1a of the group id modulo the shard count, the
// same in every process.
func (n *Node) ShardOf(group string) int {
	h := fnv.New32a()
	h.Write([]byte(group))
	return int(h.Sum32() % uint32(n.nshards))
}

// Members returns the live members of the cluster, by node id, as this node last saw them.
func (n *Node) Members() []Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Member, 0, len(n.live))
	for _, m := range n.live {
		out = append(out, Member{ID: m.ID, Addr: m.Addr})
	}
	slices.SortFunc(out, func(a, b Member) int { return int(a.ID) - int(b.ID) })
	return out
}

// Coordinator returns the live member that owns group's shard, as this node last saw the
// shard records, and false when the shard has no live owner at the moment (it is moving, or
// this node owned it and has learnt it lost it, or its own lease lapsed).
// Every member that has seen the same records gives the same answer.
func (n *Node) Coordinator(group string) (Member, bool) {
	i := n.ShardOf(group)
	n.mu.RLock()
	defer n.mu.RUnlock()
	sr := n.shards[i]
	if !sr.exists || sr.info.Owner == noOwner {
		return Member{}, false
	}
	m, ok := n.live[sr.info.Owner]
	if !ok || m.Inc != sr.info.Inc {
		return Member{}, false
	}
	if m.ID == n.id && (n.owned[i] == nil || !n.leaseValid(n.now())) {
		return Member{}, false // this node lost the shard, or its lease lapsed, since it last looked
	}
	return Member{ID: m.ID, Addr: m.Addr}, true
}

// Owns reports whether this node serves group now: it owns the group's shard and its lease
// holds on its own clock. A true answer can be out of date by the time the caller acts on
// it; the fence makes a write of a deposed owner fail all the same.
func (n *Node) Owns(group string) bool {
	_, err := n.serving(n.ShardOf(group))
	return err == nil
}

// Serves returns nil when this node serves group now: it owns the group's shard, its lease
// holds, and the shard is loaded. Otherwise it returns an error matching
// offsetstore.ErrNotOwner, or offsetstore.ErrLoading while the shard loads (a gateway
// answers NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS).
func (n *Node) Serves(group string) error {
	sh, err := n.serving(n.ShardOf(group))
	if err != nil {
		return err
	}
	if !sh.isLoaded() {
		return fmt.Errorf("%w: shard %d", offsetstore.ErrLoading, sh.id)
	}
	return nil
}

// OwnedShards returns the shards this node serves, in increasing order.
func (n *Node) OwnedShards() []int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]int, 0, len(n.owned))
	for i := range n.owned {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// Fence returns the fence under which this node serves group, loading the group first when
// needed. It fails with offsetstore.ErrNotOwner when the node does not own the group, and
// offsetstore.ErrLoading while its shard is loading.
func (n *Node) Fence(ctx context.Context, group string) (int64, error) {
	g, err := n.store.group(ctx, "Fence", group)
	if err != nil {
		return 0, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.state.Fence, nil
}

// Ready waits until every shard this node owns is loaded, or ctx is done.
func (n *Node) Ready(ctx context.Context) error {
	n.mu.RLock()
	var waits []chan struct{}
	for _, sh := range n.owned {
		waits = append(waits, sh.loaded)
	}
	n.mu.RUnlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// leaseValid reports whether this node's own lease holds at now: a successful renewal was
// sent less than 7/8 of a lease ago. Other members wait a whole lease after they first see
// a renewal, which is after it was sent, so they cannot consider this node gone before.
func (n *Node) leaseValid(now time.Time) bool {
	return !n.lastRenew.IsZero() && !n.deposed && now.Sub(n.lastRenew) < n.lease-n.lease/8
}

// serving returns the state of shard i if this node serves it now, or an error matching
// offsetstore.ErrNotOwner.
func (n *Node) serving(i int) (*servedShard, error) {
	now := n.now()
	n.mu.RLock()
	defer n.mu.RUnlock()
	sh := n.owned[i]
	switch {
	case n.closed:
		return nil, offsetstore.ErrClosed
	case sh == nil:
		return nil, fmt.Errorf("%w: node %d does not own shard %d", offsetstore.ErrNotOwner, n.id, i)
	case !n.leaseValid(now):
		return nil, fmt.Errorf("%w: node %d has not renewed its lease for %v", offsetstore.ErrNotOwner, n.id, now.Sub(n.lastRenew))
	}
	return sh, nil
}

// Sync runs one round of the membership protocol now: it renews this node's record when due,
// reads the other members and the shard records, drops the shards it lost, releases what it
// holds beyond its share and takes free shards up to it (loading their groups in the
// background). The node's goroutine calls it every Options.Interval.
func (n *Node) Sync(ctx context.Context) error {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	n.mu.RLock()
	closed, deposed := n.closed, n.deposed
	n.mu.RUnlock()
	switch {
	case closed:
		return offsetstore.ErrClosed
	case deposed:
		return ErrDeposed
	}
	if err := n.renew(ctx); err != nil {
		return err
	}
	nodes, err := n.reg.Records(ctx, collNodes)
	if err != nil {
		return err
	}
	recs, err := n.reg.Records(ctx, collShards)
	if err != nil {
		return err
	}
	now := n.now()
	live := n.observe(ctx, nodes, now)
	view := make([]shardRec, n.nshards)
	for _, rec := range recs {
		i, err := strconv.Atoi(rec.Name)
		if err != nil || i < 0 || i >= n.nshards || strconv.Itoa(i) != rec.Name {
			continue
		}
		var info shardInfo
		if err := decode(collShards, rec, &info); err != nil {
			n.log.Warn("unreadable shard record", "err", err)
			continue
		}
		view[i] = shardRec{rec: rec, info: info, exists: true}
	}
	n.mu.Lock()
	n.live, n.shards = live, view
	var lost []*servedShard
	for i, sh := range n.owned {
		if sr := view[i]; !sr.exists || sr.info.Owner != n.id || sr.info.Inc != n.inc || sr.info.Epoch != sh.epoch {
			lost = append(lost, sh)
		}
	}
	n.mu.Unlock()
	for _, sh := range lost {
		n.drop(sh, "another member took it")
	}
	return n.balance(ctx, live, view)
}

// renew rewrites this node's record when a quarter of the lease has passed since the last
// renewal, or re-creates it when it is gone.
func (n *Node) renew(ctx context.Context) error {
	sent := n.now()
	n.mu.RLock()
	due := n.lastRenew.IsZero() || sent.Sub(n.lastRenew) >= n.lease/4
	n.mu.RUnlock()
	if !due {
		return nil
	}
	n.beat++
	value := encode(nodeInfo{ID: n.id, Addr: n.addr, Inc: n.inc, Beat: n.beat})
	prev := n.selfRev
	for range 4 {
		rev, err := n.reg.PutRecord(ctx, collNodes, nodeName(n.id), prev, value)
		if err == nil {
			n.selfRev = rev
			n.mu.Lock()
			n.lastRenew = sent
			n.mu.Unlock()
			return nil
		}
		if !errors.Is(err, offsetstore.ErrConflict) {
			return err
		}
		// Our record is not what we last wrote: gone (cleaned up while we were away), ours
		// (our last write landed but its answer was lost), or another process's.
		rec, ok, err := n.reg.Record(ctx, collNodes, nodeName(n.id))
		if err != nil {
			return err
		}
		if !ok {
			prev = ""
			continue
		}
		var info nodeInfo
		if err := decode(collNodes, rec, &info); err == nil && info.Inc == n.inc {
			prev = rec.Rev
			continue
		}
		if n.selfRev == "" {
			// Starting: take the id over from a previous incarnation.
			prev = rec.Rev
			continue
		}
		n.log.Error("another process registered with this node id; this node stops serving", "node", n.id)
		n.mu.Lock()
		n.deposed = true
		lost := make([]*servedShard, 0, len(n.owned))
		for _, sh := range n.owned {
			lost = append(lost, sh)
		}
		n.mu.Unlock()
		for _, sh := range lost {
			n.drop(sh, "node id taken over")
		}
		return ErrDeposed
	}
	return fmt.Errorf("ownership: record %s/%d keeps changing", collNodes, n.id)
}

// observe updates what this node saw of the member records and returns the live members: this
// node while its lease holds, and every other member whose record changed less than a lease
// ago on this node's clock. Records unchanged for three leases are removed.
func (n *Node) observe(ctx context.Context, nodes []offsetstore.Record, now time.Time) map[int32]nodeInfo {
	live := make(map[int32]nodeInfo, len(nodes))
	seen := make(map[int32]bool, len(nodes))
	first := len(n.observed) == 0 && n.beat <= 1
	for _, rec := range nodes {
		id64, err := strconv.ParseInt(rec.Name, 10, 32)
		if err != nil || nodeName(int32(id64)) != rec.Name {
			continue
		}
		id := int32(id64)
		seen[id] = true
		if id == n.id {
			continue
		}
		o := n.observed[id]
		if o == nil || o.rec.Rev != rec.Rev {
			o = &observation{rec: rec, seen: now}
			o.ok = decode(collNodes, rec, &o.info) == nil && o.info.ID == id
			n.observed[id] = o
		}
		age := now.Sub(o.seen)
		if n.gone != nil && o.ok && age < n.lease && ((first && o.probes == 0) || (age >= n.lease/4+n.interval && o.probes < 2)) {
			o.probes = 2 - b2i(first && o.probes == 0)
			o.gone = n.gone(ctx, Member{ID: o.info.ID, Addr: o.info.Addr})
			if o.gone {
				n.log.Info("a member that has not renewed is gone", "member", id, "addr", o.info.Addr)
			}
		}
		switch {
		case age < n.lease && o.ok && !o.gone:
			live[id] = o.info
		case age >= 3*n.lease:
			// Gone long ago: remove the record, unless it changed since.
			if err := n.reg.DeleteRecord(ctx, collNodes, rec.Name, rec.Rev); err == nil {
				delete(n.observed, id)
				n.log.Info("removed the record of a member gone for three leases", "member", id)
			}
		}
	}
	for id := range n.observed {
		if !seen[id] {
			delete(n.observed, id)
		}
	}
	n.mu.RLock()
	if n.leaseValid(now) {
		live[n.id] = nodeInfo{ID: n.id, Addr: n.addr, Inc: n.inc}
	}
	n.mu.RUnlock()
	return live
}

// target returns how many shards this node aims at: N/L, one more for the lowest ids when L
// does not divide N, 0 when this node is not live.
func (n *Node) target(live map[int32]nodeInfo) int {
	if _, ok := live[n.id]; !ok {
		return 0
	}
	ids := make([]int32, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	idx := slices.Index(ids, n.id)
	t := n.nshards / len(ids)
	if idx < n.nshards%len(ids) {
		t++
	}
	return t
}

// balance releases the shards this node holds beyond its target and takes free ones up to it.
func (n *Node) balance(ctx context.Context, live map[int32]nodeInfo, view []shardRec) error {
	target := n.target(live)
	n.mu.RLock()
	owned := make([]int, 0, len(n.owned))
	for i := range n.owned {
		owned = append(owned, i)
	}
	n.mu.RUnlock()
	slices.Sort(owned)
	if len(owned) > target {
		for _, i := range owned[target:] {
			n.release(ctx, i, view[i])
		}
		return nil
	}
	need := target - len(owned)
	var taken []*servedShard
	var firstErr error
	start := int(uint32(n.id)*2654435761) % n.nshards // spread members' first picks
	for k := 0; k < n.nshards && need > 0; k++ {
		i := (start + k) % n.nshards
		if slices.Contains(owned, i) || !n.free(view[i], live) {
			continue
		}
		sh, err := n.take(ctx, i, view[i])
		if err != nil {
			if !errors.Is(err, offsetstore.ErrConflict) && firstErr == nil {
				firstErr = err
			}
			continue
		}
		taken = append(taken, sh)
		need--
	}
	if len(taken) > 0 {
		n.wg.Add(1)
		go n.load(taken)
	}
	return firstErr
}

// free reports whether a shard may be taken: never owned, released, or owned by a member that
// is not live (or by an earlier claim of this node that it does not serve).
func (n *Node) free(sr shardRec, live map[int32]nodeInfo) bool {
	if !sr.exists || sr.info.Owner == noOwner {
		return true
	}
	if sr.info.Owner == n.id && sr.info.Inc == n.inc {
		return true // a claim whose answer was lost: claim it again under a new epoch
	}
	m, ok := live[sr.info.Owner]
	return !ok || m.Inc != sr.info.Inc
}

// take claims shard i with a compare-and-set of its record under the next epoch.
func (n *Node) take(ctx context.Context, i int, sr shardRec) (*servedShard, error) {
	epoch := sr.info.Epoch + 1
	rev, err := n.reg.PutRecord(ctx, collShards, shardName(i), sr.rec.Rev, encode(shardInfo{Owner: n.id, Inc: n.inc, Epoch: epoch}))
	if err != nil {
		return nil, err
	}
	sh := newServedShard(n.ctx, i, epoch)
	n.mu.Lock()
	n.owned[i] = sh
	n.shards[i] = shardRec{rec: offsetstore.Record{Name: shardName(i), Rev: rev}, info: shardInfo{Owner: n.id, Inc: n.inc, Epoch: epoch}, exists: true}
	n.mu.Unlock()
	n.log.Info("took shard", "shard", i, "epoch", epoch, "from", sr.info.Owner)
	return sh, nil
}

// release stops serving shard i and marks its record free, keeping its epoch.
func (n *Node) release(ctx context.Context, i int, sr shardRec) {
	n.mu.RLock()
	sh := n.owned[i]
	n.mu.RUnlock()
	if sh == nil {
		return
	}
	n.drop(sh, "released")
	if !sr.exists || sr.info.Owner != n.id || sr.info.Inc != n.inc {
		return
	}
	_, err := n.reg.PutRecord(ctx, collShards, shardName(i), sr.rec.Rev, encode(shardInfo{Owner: noOwner, Epoch: sr.info.Epoch}))
	if err != nil {
		n.log.Warn("releasing shard", "shard", i, "err", err)
	}
}

// drop stops serving sh, if this node still serves it, and tells OnChange.
func (n *Node) drop(sh *servedShard, why string) {
	n.mu.Lock()
	if n.owned[sh.id] != sh {
		n.mu.Unlock()
		return
	}
	delete(n.owned, sh.id)
	n.mu.Unlock()
	sh.stop()
	n.log.Info("lost shard", "shard", sh.id, "epoch", sh.epoch, "why", why)
	n.notify(Change{Shard: sh.id, Epoch: sh.epoch})
}

// lostTo is called when a store answer shows a fence from a later epoch of sh: a successor
// took the shard.
func (n *Node) lostTo(sh *servedShard, fence int64) {
	if fenceEpoch(fence) > sh.epoch {
		n.drop(sh, "a group fence is at epoch "+strconv.FormatInt(fenceEpoch(fence), 10))
	}
}

func (n *Node) notify(c Change) {
	if n.onChange == nil {
		return
	}
	n.notifyMu.Lock()
	defer n.notifyMu.Unlock()
	n.onChange(c)
}

// Close leaves the cluster: it stops the node's goroutines, stops serving, releases its
// shards and removes its record, so that other members take the shards at once. It does not
// close the store. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.mu.Lock()
	owned := n.owned
	n.owned = make(map[int]*servedShard)
	view := slices.Clone(n.shards)
	deposed := n.deposed
	n.mu.Unlock()
	var errs []error
	for i, sh := range owned {
		sh.stop()
		n.notify(Change{Shard: i, Epoch: sh.epoch})
		if sr := view[i]; sr.exists && sr.info.Owner == n.id && sr.info.Inc == n.inc {
			if _, err := n.reg.PutRecord(ctx, collShards, shardName(i), sr.rec.Rev, encode(shardInfo{Owner: noOwner, Epoch: sr.info.Epoch})); err != nil && !errors.Is(err, offsetstore.ErrConflict) {
				errs = append(errs, err)
			}
		}
	}
	if n.selfRev != "" && !deposed {
		if err := n.reg.DeleteRecord(ctx, collNodes, nodeName(n.id), n.selfRev); err != nil && !errors.Is(err, offsetstore.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
