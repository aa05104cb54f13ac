package ownership

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// epochShift places a shard epoch in the upper bits of the group fences written under it.
const epochShift = 32

// fenceEpoch returns the shard epoch a group fence was written under.
func fenceEpoch(fence int64) int64 { return fence >> epochShift }

// nextFence returns the fence a new load under epoch moves cur to: past cur, and at least the
// first fence of epoch. ok is false when cur was written under a later epoch.
func nextFence(cur, epoch int64) (next int64, ok bool) {
	if fenceEpoch(cur) > epoch {
		return 0, false
	}
	return max(cur+1, epoch<<epochShift), true
}

// servedShard is a shard this node owns, with the groups it has loaded.
type servedShard struct {
	id     int
	epoch  int64
	ctx    context.Context // cancelled when the node stops serving the shard
	cancel context.CancelFunc
	loaded chan struct{} // closed once the groups the store listed are loaded

	mu     sync.Mutex
	groups map[string]*groupCache
}

func newServedShard(parent context.Context, id int, epoch int64) *servedShard {
	ctx, cancel := context.WithCancel(parent)
	return &servedShard{id: id, epoch: epoch, ctx: ctx, cancel: cancel, loaded: make(chan struct{}), groups: make(map[string]*groupCache)}
}

// stop ends the shard: its loads stop, and nothing of it is served any more.
func (sh *servedShard) stop() { sh.cancel() }

func (sh *servedShard) isLoaded() bool {
	select {
	case <-sh.loaded:
		return true
	default:
		return false
	}
}

// group is one group of an owned shard: its state and offsets in memory, equal to what the
// store holds while this node is the group's only writer.
type groupCache struct {
	name  string
	shard *servedShard
	ready chan struct{} // closed when the first load ended; err tells how
	err   error

	wmu sync.Mutex // serializes writes, so the memory follows the store's order

	mu      sync.RWMutex
	state   offsetstore.GroupState
	offsets map[offsetstore.TopicPartition]offsetstore.Offset
	stale   bool // a write's outcome is unknown: reload before serving
}

// getGroup returns sh's group, loading it first if needed (the caller's ctx bounds the
// load). It never returns a group whose load failed.
func (n *Node) getGroup(ctx context.Context, sh *servedShard, name string) (*groupCache, error) {
	for {
		sh.mu.Lock()
		g := sh.groups[name]
		mine := g == nil
		if mine {
			g = &groupCache{name: name, shard: sh, ready: make(chan struct{})}
			sh.groups[name] = g
		}
		sh.mu.Unlock()
		if mine {
			g.err = n.loadGroup(ctx, g)
			if g.err != nil {
				sh.mu.Lock()
				delete(sh.groups, name)
				sh.mu.Unlock()
			}
			close(g.ready)
		} else {
			select {
			case <-g.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if g.err != nil {
			if mine || ctx.Err() != nil {
				return nil, g.err
			}
			continue // another request's load failed (its context, say): load again
		}
		if err := n.refresh(ctx, g); err != nil {
			return nil, err
		}
		return g, nil
	}
}

// loadGroup moves g's fence into this node's epoch and reads its offsets.
func (n *Node) loadGroup(ctx context.Context, g *groupCache) error {
	sh := g.shard
	var st offsetstore.GroupState
	for attempt := 0; ; attempt++ {
		var err error
		st, err = n.fencer.GroupState(ctx, g.name)
		if err != nil {
			return err
		}
		next, ok := nextFence(st.Fence, sh.epoch)
		if !ok {
			n.lostTo(sh, st.Fence)
			return fmt.Errorf("%w: group fence %d is from a later epoch than shard %d's %d", offsetstore.ErrNotOwner, st.Fence, sh.id, sh.epoch)
		}
		prev := st.Fence
		st.Fence = next
		err = n.fencer.SaveGroupState(ctx, g.name, prev, st)
		if err == nil {
			break
		}
		if !errors.Is(err, offsetstore.ErrFenced) || attempt == 7 {
			return err
		}
	}
	offs, err := n.base.FetchAll(ctx, g.name)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.state, g.offsets, g.stale = st, offs, false
	g.mu.Unlock()
	return nil
}

// refresh reloads g when a write left it stale. The caller holds no lock of g.
func (n *Node) refresh(ctx context.Context, g *groupCache) error {
	g.mu.RLock()
	stale := g.stale
	g.mu.RUnlock()
	if !stale {
		return nil
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.RLock()
	stale = g.stale
	g.mu.RUnlock()
	if !stale {
		return nil
	}
	return n.loadGroup(ctx, g)
}

// load loads the groups of newly taken shards that the store lists, then marks the shards
// loaded and tells OnChange. A group it fails to load is loaded by the first request for it.
func (n *Node) load(shards []*servedShard) {
	defer n.wg.Done()
	byShard := make(map[int]*servedShard, len(shards))
	for _, sh := range shards {
		byShard[sh.id] = sh
	}
	var names []string
	for {
		var err error
		names, err = n.listGroups(n.ctx)
		if err == nil {
			break
		}
		n.log.Warn("listing groups to load", "err", err)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.interval):
		}
	}
	var todo []string
	for _, name := range names {
		if byShard[n.ShardOf(name)] != nil {
			todo = append(todo, name)
		}
	}
	sem := make(chan struct{}, n.par)
	var wg sync.WaitGroup
	for _, name := range todo {
		sh := byShard[n.ShardOf(name)]
		if sh.ctx.Err() != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := n.getGroup(sh.ctx, sh, name); err != nil && sh.ctx.Err() == nil {
				n.log.Warn("loading group", "group", name, "shard", sh.id, "err", err)
			}
		})
	}
	wg.Wait()
	for _, sh := range shards {
		if sh.ctx.Err() == nil {
			// OnChange runs before the shard is served, so that a gateway's own coordinator
			// can load the shard's groups first (Store reads work for it meanwhile).
			n.log.Info("loaded shard", "shard", sh.id, "epoch", sh.epoch)
			n.notify(Change{Shard: sh.id, Epoch: sh.epoch, Gained: true})
		}
		close(sh.loaded)
	}
}

// listGroups returns every group the store knows: with offsets, or with group state.
func (n *Node) listGroups(ctx context.Context) ([]string, error) {
	names, err := n.base.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	states, err := n.fencer.GroupStates(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(names)+len(states))
	for _, g := range names {
		seen[g] = true
	}
	for g := range states {
		if !seen[g] {
			names = append(names, g)
		}
	}
	return names, nil
}

// snapshot returns a copy of the offsets of g.
func (g *groupCache) snapshot() map[offsetstore.TopicPartition]offsetstore.Offset {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return maps.Clone(g.offsets)
}
