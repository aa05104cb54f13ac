package memstore

import (
	"context"
	"fmt"

	"github.com/offsetkit/offsetkit/offsetstore"
)

var _ offsetstore.Fencer = (*Store)(nil)

// fence is the condition of a write: none, or the group's fence epoch the write carries.
type fence struct {
	on    bool
	epoch int64
}

var unfenced = fence{}

// checkFence fails with ErrFenced when f is on and the group's fence is not f.epoch; the
// caller holds the shard's lock, so the check and the write it guards are one step.
func (sh *shard) checkFence(op, group string, f fence) error {
	if !f.on {
		return nil
	}
	if cur := sh.states[group].Fence; cur != f.epoch {
		return &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("%w: write carries fence %d, group is at %d", offsetstore.ErrFenced, f.epoch, cur)}
	}
	return nil
}

// GroupState implements offsetstore.Fencer: the group's fence and saved state, the zero
// GroupState for a group never saved.
func (s *Store) GroupState(ctx context.Context, group string) (offsetstore.GroupState, error) {
	const op = "GroupState"
	if err := s.check(ctx, op, group); err != nil {
		return offsetstore.GroupState{}, err
	}
	sh, err := s.rlockShard(op, group)
	if err != nil {
		return offsetstore.GroupState{}, err
	}
	defer sh.mu.RUnlock()
	return sh.states[group].Clone(), nil
}

// GroupStates implements offsetstore.Fencer: every group whose saved state is not zero.
func (s *Store) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	const op = "GroupStates"
	if err := s.check(ctx, op, ""); err != nil {
		return nil, err
	}
	out := make(map[string]offsetstore.GroupState)
	for i := range s.shards {
		sh, err := s.rlockShardAt(op, i)
		if err != nil {
			return nil, err
		}
		for g, st := range sh.states {
			if !st.IsZero() {
				out[g] = st.Clone()
			}
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// SaveGroupState implements offsetstore.Fencer: it replaces the group's state when its fence
// is still prev.
func (s *Store) SaveGroupState(ctx context.Context, group string, prev int64, st offsetstore.GroupState) error {
	const op = "SaveGroupState"
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	if st.Fence < prev {
		return &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("%w: fence %d moves back from %d", offsetstore.ErrInvalid, st.Fence, prev)}
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	if err := sh.checkFence(op, group, fence{on: true, epoch: prev}); err != nil {
		return err
	}
	sh.states[group] = st.Clone()
	return nil
}

// CommitFenced implements offsetstore.Fencer: Commit, applied only while the group's fence
// is fence.
func (s *Store) CommitFenced(ctx context.Context, group string, fenceEpoch int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.commit(ctx, "CommitFenced", group, offsets, false, fence{on: true, epoch: fenceEpoch})
}

// DeleteFenced implements offsetstore.Fencer: Delete, applied only while the group's fence
// is fence.
func (s *Store) DeleteFenced(ctx context.Context, group string, fenceEpoch int64, partitions []offsetstore.TopicPartition) error {
	return s.delete(ctx, "DeleteFenced", group, partitions, fence{on: true, epoch: fenceEpoch})
}

// DeleteGroupFenced implements offsetstore.Fencer: DeleteGroup, applied only while the
// group's fence is fence. The group's fence and state are kept.
func (s *Store) DeleteGroupFenced(ctx context.Context, group string, fenceEpoch int64) error {
	return s.deleteGroup(ctx, "DeleteGroupFenced", group, fence{on: true, epoch: fenceEpoch})
}

// ExpireOffsetsFenced implements offsetstore.Fencer: ExpireOffsets, applied only while the
// group's fence is fence.
func (s *Store) ExpireOffsetsFenced(ctx context.Context, group string, fenceEpoch int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return s.expire(ctx, "ExpireOffsetsFenced", group, expired, fence{on: true, epoch: fenceEpoch})
}
