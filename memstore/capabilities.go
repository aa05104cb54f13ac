package memstore

import (
	"context"
	"fmt"
	"math"

	"github.com/offsetkit/offsetkit/offsetstore"
)

var (
	_ offsetstore.Expirer        = (*Store)(nil)
	_ offsetstore.Inserter       = (*Store)(nil)
	_ offsetstore.FetchIntoer    = (*Store)(nil)
	_ offsetstore.SliceCommitter = (*Store)(nil)
)

// CommitSlice implements offsetstore.SliceCommitter: Commit from the caller's slices, under the
// group's lock, without a map in between.
func (s *Store) CommitSlice(ctx context.Context, group string, partitions []offsetstore.TopicPartition, offsets []offsetstore.Offset) error {
	const op = "CommitSlice"
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	if len(partitions) != len(offsets) {
		return &offsetstore.Error{Op: op, Group: group, Err: fmt.Errorf("%w: CommitSlice of %d partitions with %d offsets",
			offsetstore.ErrInvalid, len(partitions), len(offsets))}
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	if len(partitions) == 0 {
		return nil
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	w := writer{g: sh.group(group)}
	pg := sh.pending[group]
	for i, tp := range partitions {
		w.set(tp, offsets[i], false)
		if pg != nil {
			pg.supersede(tp, math.MaxUint64)
		}
	}
	return nil
}

// FetchInto implements offsetstore.FetchIntoer: Fetch into the caller's slices, under the
// group's read lock, allocating nothing.
func (s *Store) FetchInto(ctx context.Context, group string, partitions []offsetstore.TopicPartition, dst []offsetstore.Offset, found []bool) error {
	const op = "FetchInto"
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidateFetchInto(partitions, dst, found); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	sh, err := s.rlockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.RUnlock()
	c := cursor{g: sh.groups[group]}
	for i, tp := range partitions {
		e, ok := c.get(tp)
		if ok {
			dst[i] = e.toOffset()
		} else {
			dst[i] = offsetstore.Offset{}
		}
		found[i] = ok
	}
	return nil
}

// ExpireOffsets implements offsetstore.Expirer: under the group's lock it deletes every offset
// for which expired returns true and returns them. A group left with no offsets is removed.
// expired runs under that lock, so it must not call the Store.
func (s *Store) ExpireOffsets(ctx context.Context, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return s.expire(ctx, "ExpireOffsets", group, expired, unfenced)
}

func (s *Store) expire(ctx context.Context, op, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool, f fence) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return nil, err
	}
	defer sh.mu.Unlock()
	if err := sh.checkFence(op, group, f); err != nil {
		return nil, err
	}
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset)
	g := sh.groups[group]
	if g == nil {
		return out, nil
	}
	pg := sh.pending[group]
	for topic, t := range g.topics {
		for p, e := range t {
			tp, o := offsetstore.TopicPartition{Topic: topic, Partition: p}, e.toOffset()
			if pg.has(tp) {
				continue // Kafka never expires an offset with a pending transactional one
			}
			if expired(tp, o) {
				out[tp] = o
				g.del(tp) // deleting during range is safe; t may be removed from g.topics
			}
		}
	}
	if g.n == 0 {
		delete(sh.groups, group)
	}
	return out, nil
}

// CommitIfAbsent implements offsetstore.Inserter: under the group's lock it stores each offset
// whose partition has nothing stored.
func (s *Store) CommitIfAbsent(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.commit(ctx, "CommitIfAbsent", group, offsets, true, unfenced)
}
