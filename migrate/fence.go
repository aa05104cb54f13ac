package migrate

import (
	"context"
	"errors"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// fencer returns the primary's Fencer, or an error matching errors.ErrUnsupported when the
// primary has none. Fences and group states live in the primary only: the legacy store is
// never fenced.
func (s *Store) fencer(ctx context.Context, op, group string) (offsetstore.Fencer, error) {
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	f, ok := s.primary.(offsetstore.Fencer)
	if !ok {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: errors.ErrUnsupported}
	}
	return f, nil
}

// GroupState implements offsetstore.Fencer: the primary's group state. Without a primary
// Fencer every Fencer method returns an error matching errors.ErrUnsupported.
func (s *Store) GroupState(ctx context.Context, group string) (offsetstore.GroupState, error) {
	f, err := s.fencer(ctx, "GroupState", group)
	if err != nil {
		return offsetstore.GroupState{}, err
	}
	return f.GroupState(ctx, group)
}

// GroupStates implements offsetstore.Fencer: the primary's group states.
func (s *Store) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	f, err := s.fencer(ctx, "GroupStates", "")
	if err != nil {
		return nil, err
	}
	return f.GroupStates(ctx)
}

// SaveGroupState implements offsetstore.Fencer: it saves the state in the primary.
func (s *Store) SaveGroupState(ctx context.Context, group string, prev int64, st offsetstore.GroupState) error {
	f, err := s.fencer(ctx, "SaveGroupState", group)
	if err != nil {
		return err
	}
	return f.SaveGroupState(ctx, group, prev, st)
}

// CommitFenced implements offsetstore.Fencer: Commit to the primary, conditioned there on the
// group's fence.
func (s *Store) CommitFenced(ctx context.Context, group string, fence int64, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	f, err := s.fencer(ctx, "CommitFenced", group)
	if err != nil {
		return err
	}
	if s.ins == nil {
		mu := s.lock(group)
		mu.Lock()
		defer mu.Unlock()
	}
	return f.CommitFenced(ctx, group, fence, offsets)
}

// DeleteFenced implements offsetstore.Fencer: Delete, legacy first, with the primary's delete
// conditioned on the fence. The legacy offsets of the partitions are first copied into the
// primary where it has none, so that a delete the primary refuses (ErrFenced) loses nothing:
// every offset it would have deleted is still readable from the primary.
func (s *Store) DeleteFenced(ctx context.Context, group string, fence int64, partitions []offsetstore.TopicPartition) error {
	const op = "DeleteFenced"
	f, err := s.fencer(ctx, op, group)
	if err != nil {
		return err
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	if len(partitions) > 0 {
		found, err := s.legacy.Fetch(ctx, group, partitions)
		if err != nil {
			return err
		}
		if err := s.storeUp(ctx, group, found); err != nil {
			return err
		}
		if err := s.legacy.Delete(ctx, group, partitions); err != nil {
			return err
		}
	}
	return f.DeleteFenced(ctx, group, fence, partitions)
}

// DeleteGroupFenced implements offsetstore.Fencer: DeleteGroup, legacy first, with the
// primary's delete conditioned on the fence, after copying the legacy offsets into the
// primary as DeleteFenced does. It returns ErrGroupNotFound only when neither store had the
// group.
func (s *Store) DeleteGroupFenced(ctx context.Context, group string, fence int64) error {
	f, err := s.fencer(ctx, "DeleteGroupFenced", group)
	if err != nil {
		return err
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	found, err := s.legacy.FetchAll(ctx, group)
	if err != nil {
		return err
	}
	if err := s.storeUp(ctx, group, found); err != nil {
		return err
	}
	errL := s.legacy.DeleteGroup(ctx, group)
	if errL != nil && !errors.Is(errL, offsetstore.ErrGroupNotFound) {
		return errL
	}
	errP := f.DeleteGroupFenced(ctx, group, fence)
	if errL == nil && errors.Is(errP, offsetstore.ErrGroupNotFound) {
		return nil
	}
	return errP
}

// ExpireOffsetsFenced implements offsetstore.Fencer: the legacy-only offsets of the group are
// copied into the primary, the primary expires with the fence, and only then are the expired
// partitions removed from the legacy store, so that an expiry the primary refuses changes
// nothing readable and an expired offset is never copied back.
func (s *Store) ExpireOffsetsFenced(ctx context.Context, group string, fence int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	f, err := s.fencer(ctx, "ExpireOffsetsFenced", group)
	if err != nil {
		return nil, err
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	legacyAll, err := s.legacy.FetchAll(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := s.storeUp(ctx, group, legacyAll); err != nil {
		return nil, err
	}
	out, err := f.ExpireOffsetsFenced(ctx, group, fence, expired)
	if err != nil {
		return out, err
	}
	var drop []offsetstore.TopicPartition
	for tp := range out {
		if _, ok := legacyAll[tp]; ok {
			drop = append(drop, tp)
		}
	}
	if len(drop) > 0 {
		if err := s.legacy.Delete(ctx, group, drop); err != nil {
			return out, err
		}
	}
	return out, nil
}
