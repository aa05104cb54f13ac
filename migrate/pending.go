package migrate

import (
	"context"
	"errors"

	"github.com/offsetkit/offsetkit/offsetstore"
)

var _ offsetstore.PendingCommitter = (*Store)(nil)

// pending returns the primary's PendingCommitter, or an error matching errors.ErrUnsupported
// when the primary has none. Pending transactional offsets live in the primary only: a
// transaction that commits writes its offsets there, where they win over the legacy store's
// (which were all written before), and Delete and DeleteGroup drop them there.
func (s *Store) pending(ctx context.Context, op, group string) (offsetstore.PendingCommitter, error) {
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	pc, ok := s.primary.(offsetstore.PendingCommitter)
	if !ok {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: errors.ErrUnsupported}
	}
	return pc, nil
}

// StagePending implements offsetstore.PendingCommitter: it stages the offsets in the primary.
// Without a primary PendingCommitter every PendingCommitter method returns an error matching
// errors.ErrUnsupported.
func (s *Store) StagePending(ctx context.Context, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	pc, err := s.pending(ctx, "StagePending", group)
	if err != nil {
		return err
	}
	return pc.StagePending(ctx, group, txn, offsets)
}

// StagePendingFenced implements offsetstore.PendingCommitter: it stages the offsets in the
// primary, conditioned there on the group's fence.
func (s *Store) StagePendingFenced(ctx context.Context, group string, fence int64, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	pc, err := s.pending(ctx, "StagePendingFenced", group)
	if err != nil {
		return err
	}
	return pc.StagePendingFenced(ctx, group, fence, txn, offsets)
}

// CompletePending implements offsetstore.PendingCommitter: it completes the transaction in
// the primary, under the group's lock when the primary has no Inserter (as Commit does).
func (s *Store) CompletePending(ctx context.Context, group string, producerID int64, commit bool) error {
	pc, err := s.pending(ctx, "CompletePending", group)
	if err != nil {
		return err
	}
	if s.ins == nil {
		mu := s.lock(group)
		mu.Lock()
		defer mu.Unlock()
	}
	return pc.CompletePending(ctx, group, producerID, commit)
}

// PendingPartitions implements offsetstore.PendingCommitter: the primary's.
func (s *Store) PendingPartitions(ctx context.Context, group string) ([]offsetstore.TopicPartition, error) {
	pc, err := s.pending(ctx, "PendingPartitions", group)
	if err != nil {
		return nil, err
	}
	return pc.PendingPartitions(ctx, group)
}

// ListPending implements offsetstore.PendingCommitter: the primary's.
func (s *Store) ListPending(ctx context.Context) ([]offsetstore.PendingGroup, error) {
	pc, err := s.pending(ctx, "ListPending", "")
	if err != nil {
		return nil, err
	}
	return pc.ListPending(ctx)
}
