package ownership

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Store is the offsetstore.Store through which a Node serves the groups it owns: their
// offsets and group states in memory, every write through to the shared store conditioned on
// the group's fence, every read from memory. It fails with offsetstore.ErrNotOwner for a
// group of a shard the node does not own (or while its own lease has lapsed), and with
// offsetstore.ErrLoading while the group's shard is loading.
//
// It implements offsetstore.Fencer, offsetstore.Expirer, offsetstore.Inserter,
// offsetstore.FetchIntoer, offsetstore.SliceCommitter, and, forwarded to the shared store,
// offsetstore.Registry and offsetstore.PendingCommitter (pending offsets are staged under the
// group's fence; completing a transaction reads the group's offsets again). A transaction
// completed by a deposed owner is not fenced: transactions in a cluster are for one gateway
// to coordinate.
// Its fences are its own: a group's fence reads 0 when this node first serves it and moves
// only forward while this process lives, whatever happens to the shard, so a coordinator
// that accepted a write under an older fence (before this node lost and regained the shard,
// say) can never land it. The shared store holds other numbers (see the package
// documentation); they are translated on the way through. Commit and the other unfenced
// writes are fenced all the same, with the group's current fence.
//
// ListGroups and GroupStates list only the groups of the shards the node owns, as a Kafka
// broker lists only the groups it coordinates.
//
// Close leaves the cluster (Node.Close) and closes the shared store.
type Store struct {
	n      *Node
	base   offsetstore.Store
	fencer offsetstore.Fencer
	closed atomic.Bool

	mu      sync.Mutex
	origins map[string]int64 // group -> the real fence its Store fence 0 stands for
}

var (
	_ offsetstore.Store          = (*Store)(nil)
	_ offsetstore.Fencer         = (*Store)(nil)
	_ offsetstore.Expirer        = (*Store)(nil)
	_ offsetstore.Inserter       = (*Store)(nil)
	_ offsetstore.FetchIntoer    = (*Store)(nil)
	_ offsetstore.SliceCommitter = (*Store)(nil)
	_ offsetstore.Registry       = (*Store)(nil)
)

// Node returns the node the Store serves for.
func (s *Store) Node() *Node { return s.n }

// origin returns the real fence that Store fence 0 stands for in group, fixing it at the
// start of epoch when the Store first serves the group.
func (s *Store) origin(group string, epoch int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.origins == nil {
		s.origins = make(map[string]int64)
	}
	o, ok := s.origins[group]
	if !ok {
		o = epoch << epochShift
		s.origins[group] = o
	}
	return o
}

// fail wraps err as an *offsetstore.Error of op, renaming the operation of an
// *offsetstore.Error from the shared store.
func fail(op, group string, err error) error {
	if err == nil {
		return nil
	}
	var e *offsetstore.Error
	if errors.As(err, &e) {
		return &offsetstore.Error{Op: op, Group: group, Err: e.Err}
	}
	return &offsetstore.Error{Op: op, Group: group, Err: err}
}

// begin refuses a done context and a closed store.
func (s *Store) begin(ctx context.Context, op, group string) error {
	if err := ctx.Err(); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	if s.closed.Load() {
		return &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrClosed}
	}
	return nil
}

// group returns the loaded group, or why it cannot be served.
func (s *Store) group(ctx context.Context, op, name string) (*groupCache, error) {
	return s.groupOf(ctx, op, name, false)
}

// groupOf is group; duringLoad also serves a group of a shard whose load has not ended (the
// groups the store listed are loaded by then; OnChange runs before the shard is served).
func (s *Store) groupOf(ctx context.Context, op, name string, duringLoad bool) (*groupCache, error) {
	if err := s.begin(ctx, op, name); err != nil {
		return nil, err
	}
	sh, err := s.n.serving(s.n.ShardOf(name))
	if err != nil {
		return nil, fail(op, name, err)
	}
	if !duringLoad && !sh.isLoaded() {
		return nil, &offsetstore.Error{Op: op, Group: name, Err: fmt.Errorf("%w: shard %d", offsetstore.ErrLoading, sh.id)}
	}
	g, err := s.n.getGroup(ctx, sh, name)
	if err != nil {
		return nil, fail(op, name, err)
	}
	return g, nil
}

// write applies one write of group under its write lock: apply gets the real fence to
// condition the write on (the group's, or the Store fence the caller gave, translated), and
// update brings the memory up to date after the write succeeded.
func (s *Store) write(ctx context.Context, op, name string, fence *int64, apply func(g *groupCache, real int64) error, update func(g *groupCache)) error {
	g, err := s.group(ctx, op, name)
	if err != nil {
		return err
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.RLock()
	stale := g.stale
	g.mu.RUnlock()
	if stale {
		if err := s.n.loadGroup(ctx, g); err != nil {
			return fail(op, name, err)
		}
	}
	g.mu.RLock()
	real := g.state.Fence
	g.mu.RUnlock()
	if fence != nil {
		real = s.origin(name, g.shard.epoch) + *fence
	}
	err = apply(g, real)
	switch {
	case err == nil:
		g.mu.Lock()
		update(g)
		g.mu.Unlock()
	case errors.Is(err, offsetstore.ErrFenced):
		s.fenced(ctx, g)
	case errors.Is(err, offsetstore.ErrInvalid), errors.Is(err, offsetstore.ErrGroupNotFound):
		// Refused before anything was written.
	default:
		g.mu.Lock()
		g.stale = true // it may still land: move the fence before serving the group again
		g.mu.Unlock()
	}
	return fail(op, name, err)
}

// fenced looks at the group's fence after the shared store refused a write: a fence from a
// later epoch means a successor took the shard; another change makes the group reload.
func (s *Store) fenced(ctx context.Context, g *groupCache) {
	st, err := s.fencer.GroupState(ctx, g.name)
	g.mu.Lock()
	if err != nil || st.Fence != g.state.Fence {
		g.stale = true
	}
	g.mu.Unlock()
	if err == nil {
		s.n.lostTo(g.shard, st.Fence)
	}
}

// Commit implements offsetstore.Store: a CommitFenced with the group's current fence.
func (s *Store) Commit(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.commit(ctx, "Commit", group, nil, offsets)
}

// CommitFenced implements offsetstore.Fencer.
func (s *Store) CommitFenced(ctx context.Context, group string, fence int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.commit(ctx, "CommitFenced", group, &fence, offsets)
}

func (s *Store) commit(ctx context.Context, op, group string, fence *int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidateOffsets(offsets); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	return s.write(ctx, op, group, fence, func(_ *groupCache, real int64) error {
		return s.fencer.CommitFenced(ctx, group, real, offsets)
	}, func(g *groupCache) {
		for tp, o := range offsets {
			g.offsets[tp] = offsetstore.Normalize(o)
		}
	})
}

// CommitSlice implements offsetstore.SliceCommitter: Commit of the batch the slices make.
func (s *Store) CommitSlice(ctx context.Context, group string, partitions []offsetstore.TopicPartition, offsets []offsetstore.Offset) error {
	const op = "CommitSlice"
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if len(partitions) != len(offsets) {
		return &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("%w: CommitSlice of %d partitions with %d offsets",
			offsetstore.ErrInvalid, len(partitions), len(offsets))}
	}
	m := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(partitions))
	for i, tp := range partitions {
		m[tp] = offsets[i]
	}
	return s.commit(ctx, op, group, nil, m)
}

// CommitIfAbsent implements offsetstore.Inserter: the Store is the group's only writer, so it
// commits, fenced, the partitions that hold nothing in memory.
func (s *Store) CommitIfAbsent(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	const op = "CommitIfAbsent"
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidateOffsets(offsets); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	var absent map[offsetstore.TopicPartition]offsetstore.Offset
	return s.write(ctx, op, group, nil, func(g *groupCache, real int64) error {
		absent = make(map[offsetstore.TopicPartition]offsetstore.Offset, len(offsets))
		g.mu.RLock()
		for tp, o := range offsets {
			if _, ok := g.offsets[tp]; !ok {
				absent[tp] = o
			}
		}
		g.mu.RUnlock()
		if len(absent) == 0 {
			return nil
		}
		return s.fencer.CommitFenced(ctx, group, real, absent)
	}, func(g *groupCache) {
		for tp, o := range absent {
			g.offsets[tp] = offsetstore.Normalize(o)
		}
	})
}

// Fetch implements offsetstore.Store, from memory.
func (s *Store) Fetch(ctx context.Context, group string, partitions []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	const op = "Fetch"
	if err := s.begin(ctx, op, group); err != nil {
		return nil, err
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	g, err := s.group(ctx, op, group)
	if err != nil {
		return nil, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, min(len(partitions), len(g.offsets)))
	for _, tp := range partitions {
		if o, ok := g.offsets[tp]; ok {
			out[tp] = o
		}
	}
	return out, nil
}

// FetchInto implements offsetstore.FetchIntoer, from memory, allocating nothing.
func (s *Store) FetchInto(ctx context.Context, group string, partitions []offsetstore.TopicPartition, dst []offsetstore.Offset, found []bool) error {
	const op = "FetchInto"
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidateFetchInto(partitions, dst, found); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	g, err := s.group(ctx, op, group)
	if err != nil {
		return err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for i, tp := range partitions {
		dst[i], found[i] = g.offsets[tp]
	}
	return nil
}

// FetchAll implements offsetstore.Store, from memory.
func (s *Store) FetchAll(ctx context.Context, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	g, err := s.group(ctx, "FetchAll", group)
	if err != nil {
		return nil, err
	}
	out := g.snapshot()
	if out == nil {
		out = make(map[offsetstore.TopicPartition]offsetstore.Offset)
	}
	return out, nil
}

// Delete implements offsetstore.Store: a DeleteFenced with the group's current fence.
func (s *Store) Delete(ctx context.Context, group string, partitions []offsetstore.TopicPartition) error {
	return s.delete(ctx, "Delete", group, nil, partitions)
}

// DeleteFenced implements offsetstore.Fencer.
func (s *Store) DeleteFenced(ctx context.Context, group string, fence int64, partitions []offsetstore.TopicPartition) error {
	return s.delete(ctx, "DeleteFenced", group, &fence, partitions)
}

func (s *Store) delete(ctx context.Context, op, group string, fence *int64, partitions []offsetstore.TopicPartition) error {
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	return s.write(ctx, op, group, fence, func(_ *groupCache, real int64) error {
		return s.fencer.DeleteFenced(ctx, group, real, partitions)
	}, func(g *groupCache) {
		for _, tp := range partitions {
			delete(g.offsets, tp)
		}
	})
}

// DeleteGroup implements offsetstore.Store: a DeleteGroupFenced with the group's current
// fence.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	return s.deleteGroup(ctx, "DeleteGroup", group, nil)
}

// DeleteGroupFenced implements offsetstore.Fencer.
func (s *Store) DeleteGroupFenced(ctx context.Context, group string, fence int64) error {
	return s.deleteGroup(ctx, "DeleteGroupFenced", group, &fence)
}

func (s *Store) deleteGroup(ctx context.Context, op, group string, fence *int64) error {
	return s.write(ctx, op, group, fence, func(_ *groupCache, real int64) error {
		return s.fencer.DeleteGroupFenced(ctx, group, real)
	}, func(g *groupCache) {
		clear(g.offsets)
	})
}

// ExpireOffsets implements offsetstore.Expirer: an ExpireOffsetsFenced with the group's
// current fence.
func (s *Store) ExpireOffsets(ctx context.Context, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return s.expire(ctx, "ExpireOffsets", group, nil, expired)
}

// ExpireOffsetsFenced implements offsetstore.Fencer.
func (s *Store) ExpireOffsetsFenced(ctx context.Context, group string, fence int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return s.expire(ctx, "ExpireOffsetsFenced", group, &fence, expired)
}

func (s *Store) expire(ctx context.Context, op, group string, fence *int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	var out map[offsetstore.TopicPartition]offsetstore.Offset
	err := s.write(ctx, op, group, fence, func(_ *groupCache, real int64) error {
		var err error
		out, err = s.fencer.ExpireOffsetsFenced(ctx, group, real, expired)
		return err
	}, func(g *groupCache) {
		for tp := range out {
			delete(g.offsets, tp)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListGroups implements offsetstore.Store: the groups with offsets of the shards the node
// owns.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	const op = "ListGroups"
	if err := s.begin(ctx, op, ""); err != nil {
		return nil, err
	}
	all, err := s.base.ListGroups(ctx)
	if err != nil {
		return nil, fail(op, "", err)
	}
	out := all[:0]
	for _, g := range all {
		if s.n.Owns(g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// GroupState implements offsetstore.Fencer, from memory, with the Store's fence.
func (s *Store) GroupState(ctx context.Context, group string) (offsetstore.GroupState, error) {
	g, err := s.group(ctx, "GroupState", group)
	if err != nil {
		return offsetstore.GroupState{}, err
	}
	return s.state(g), nil
}

func (s *Store) state(g *groupCache) offsetstore.GroupState {
	g.mu.RLock()
	st := g.state.Clone()
	g.mu.RUnlock()
	st.Fence -= s.origin(g.name, g.shard.epoch)
	return st
}

// GroupStates implements offsetstore.Fencer: the states of the groups of the shards the node
// owns that are not zero, those of a shard still loading included (for Options.OnChange).
func (s *Store) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	const op = "GroupStates"
	if err := s.begin(ctx, op, ""); err != nil {
		return nil, err
	}
	all, err := s.fencer.GroupStates(ctx)
	if err != nil {
		return nil, fail(op, "", err)
	}
	out := make(map[string]offsetstore.GroupState, len(all))
	for name := range all {
		if !s.n.Owns(name) {
			continue
		}
		g, err := s.groupOf(ctx, op, name, true)
		if err != nil {
			return nil, err
		}
		if st := s.state(g); !st.IsZero() {
			out[name] = st
		}
	}
	return out, nil
}

// SaveGroupState implements offsetstore.Fencer: prev and st.Fence are Store fences. A fence
// that would reach past the shard's epoch in the shared store fails with ErrInvalid.
func (s *Store) SaveGroupState(ctx context.Context, group string, prev int64, st offsetstore.GroupState) error {
	const op = "SaveGroupState"
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	if st.Fence < prev {
		return &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("%w: fence %d moves back from %d", offsetstore.ErrInvalid, st.Fence, prev)}
	}
	var saved offsetstore.GroupState
	return s.write(ctx, op, group, &prev, func(g *groupCache, realPrev int64) error {
		g.mu.RLock()
		cur := g.state.Fence
		g.mu.RUnlock()
		if realPrev != cur {
			// The Store is the group's only writer: its memory is the stored fence.
			return fmt.Errorf("%w: fence is %d, not %d", offsetstore.ErrFenced, cur-s.origin(group, g.shard.epoch), prev)
		}
		saved = st.Clone()
		saved.Fence = realPrev + (st.Fence - prev)
		if saved.Fence < realPrev || fenceEpoch(saved.Fence) != g.shard.epoch {
			return fmt.Errorf("%w: fence %d is too far from %d", offsetstore.ErrInvalid, st.Fence, prev)
		}
		return s.fencer.SaveGroupState(ctx, group, realPrev, saved)
	}, func(g *groupCache) {
		g.state = saved
	})
}

// Record implements offsetstore.Registry, forwarded to the shared store.
func (s *Store) Record(ctx context.Context, collection, name string) (offsetstore.Record, bool, error) {
	if err := s.begin(ctx, "Record", collection+"/"+name); err != nil {
		return offsetstore.Record{}, false, err
	}
	return s.n.reg.Record(ctx, collection, name)
}

// Records implements offsetstore.Registry, forwarded to the shared store.
func (s *Store) Records(ctx context.Context, collection string) ([]offsetstore.Record, error) {
	if err := s.begin(ctx, "Records", collection); err != nil {
		return nil, err
	}
	return s.n.reg.Records(ctx, collection)
}

// PutRecord implements offsetstore.Registry, forwarded to the shared store.
func (s *Store) PutRecord(ctx context.Context, collection, name, prev string, value []byte) (string, error) {
	if err := s.begin(ctx, "PutRecord", collection+"/"+name); err != nil {
		return "", err
	}
	return s.n.reg.PutRecord(ctx, collection, name, prev, value)
}

// DeleteRecord implements offsetstore.Registry, forwarded to the shared store.
func (s *Store) DeleteRecord(ctx context.Context, collection, name, prev string) error {
	if err := s.begin(ctx, "DeleteRecord", collection+"/"+name); err != nil {
		return err
	}
	return s.n.reg.DeleteRecord(ctx, collection, name, prev)
}

// Close leaves the cluster (Node.Close) and closes the shared store. It is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(s.n.Close(), s.base.Close())
}

var _ offsetstore.PendingCommitter = (*Store)(nil)

// pending returns the shared store's PendingCommitter, or an error matching
// errors.ErrUnsupported.
func (s *Store) pending(op, group string) (offsetstore.PendingCommitter, error) {
	pc, ok := s.base.(offsetstore.PendingCommitter)
	if !ok {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("ownership: store %T keeps no pending offsets: %w", s.base, errors.ErrUnsupported)}
	}
	return pc, nil
}

// StagePending implements offsetstore.PendingCommitter: a StagePendingFenced with the
// group's current fence. Pending offsets are not kept in memory.
func (s *Store) StagePending(ctx context.Context, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.stagePending(ctx, "StagePending", group, nil, txn, offsets)
}

// StagePendingFenced implements offsetstore.PendingCommitter.
func (s *Store) StagePendingFenced(ctx context.Context, group string, fence int64, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.stagePending(ctx, "StagePendingFenced", group, &fence, txn, offsets)
}

func (s *Store) stagePending(ctx context.Context, op, group string, fence *int64, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	pc, err := s.pending(op, group)
	if err != nil {
		return err
	}
	if err := offsetstore.ValidateOffsets(offsets); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	return s.write(ctx, op, group, fence, func(_ *groupCache, real int64) error {
		return pc.StagePendingFenced(ctx, group, real, txn, offsets)
	}, func(*groupCache) {})
}

// CompletePending implements offsetstore.PendingCommitter: the shared store completes the
// transaction, and the group's offsets are read again from it.
func (s *Store) CompletePending(ctx context.Context, group string, producerID int64, commit bool) error {
	const op = "CompletePending"
	if err := s.begin(ctx, op, group); err != nil {
		return err
	}
	pc, err := s.pending(op, group)
	if err != nil {
		return err
	}
	var offs map[offsetstore.TopicPartition]offsetstore.Offset
	return s.write(ctx, op, group, nil, func(*groupCache, int64) error {
		if err := pc.CompletePending(ctx, group, producerID, commit); err != nil {
			return err
		}
		var err error
		offs, err = s.base.FetchAll(ctx, group)
		return err
	}, func(g *groupCache) {
		g.offsets = offs
	})
}

// PendingPartitions implements offsetstore.PendingCommitter, from the shared store.
func (s *Store) PendingPartitions(ctx context.Context, group string) ([]offsetstore.TopicPartition, error) {
	const op = "PendingPartitions"
	pc, err := s.pending(op, group)
	if err != nil {
		return nil, err
	}
	if _, err := s.group(ctx, op, group); err != nil {
		return nil, err
	}
	out, err := pc.PendingPartitions(ctx, group)
	return out, fail(op, group, err)
}

// ListPending implements offsetstore.PendingCommitter: the pending transactions of the
// groups of the shards the node owns.
func (s *Store) ListPending(ctx context.Context) ([]offsetstore.PendingGroup, error) {
	const op = "ListPending"
	if err := s.begin(ctx, op, ""); err != nil {
		return nil, err
	}
	pc, err := s.pending(op, "")
	if err != nil {
		return nil, err
	}
	all, err := pc.ListPending(ctx)
	if err != nil {
		return nil, fail(op, "", err)
	}
	out := all[:0]
	for _, pg := range all {
		if s.n.Owns(pg.Group) {
			out = append(out, pg)
		}
	}
	return out, nil
}
