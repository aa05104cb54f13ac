package filerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

var (
	_ offsetstore.Inserter = (*Store)(nil)
	_ offsetstore.Expirer  = (*Store)(nil)
)

// CommitIfAbsent stores each offset of the batch whose partition has nothing stored and
// leaves the others unchanged (offsetstore.Inserter). On a filer with ObjectTransaction it is
// one transaction under the group's lock, each write conditioned on the file not existing;
// on an older filer, one exclusive CreateEntry per partition, under that file's lock like
// every other write there. Either way it is atomic per partition with respect to the Commit
// and Delete of every filerstore on the filer; a writer that bypasses those locks (the
// SeaweedFS gateway's own CreateEntry) is not ordered with it.
func (s *Store) CommitIfAbsent(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.writeOffsets(ctx, "CommitIfAbsent", group, offsets, func(ctx context.Context) error {
		return s.commitIfAbsent(ctx, group, offsets)
	})
}

func (s *Store) commitIfAbsent(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	groupDir, markers, muts, err := s.commitMutations(group, offsets)
	if err != nil {
		return err
	}
	if !s.noTxn.Load() {
		txn := make([]*filer_pb.ObjectMutation, 0, len(markers)+len(muts))
		for _, m := range markers {
			txn = append(txn, objectMutation(m)) // markers first, unconditionally
		}
		ifAbsent := &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{Kind: filer_pb.WriteCondition_IF_NOT_EXISTS}}}
		for _, m := range muts {
			om := objectMutation(m)
			om.Condition = ifAbsent
			txn = append(txn, om)
		}
		_, err := s.transact(ctx, groupDir, txn)
		if !isUnimplemented(err) {
			return err
		}
		s.noTxn.Store(true)
	}
	if len(markers) > 0 {
		if err := s.mutate(ctx, groupDir, markers); err != nil {
			return err
		}
	}
	return forEach(ctx, len(muts), s.par, func(ctx context.Context, i int) error {
		req := muts[i].GetCreateRequest()
		excl := &filer_pb.CreateEntryRequest{Directory: req.Directory, Entry: req.Entry, OExcl: true}
		err := filer_pb.CreateEntry(ctx, s.client, excl)
		if errors.Is(err, filer_pb.ErrEntryAlreadyExists) {
			return nil
		}
		return err
	})
}

// ExpireOffsets deletes the offsets of group for which expired returns true, each only if it
// still holds the value expired was shown, and returns those it deleted
// (offsetstore.Expirer). It reads the group as FetchAll does, then deletes in one
// ObjectTransaction under the group's lock, each delete conditioned on the file's ETag (the
// MD5 of its content) being the one read; a file changed since is skipped. It needs a filer
// with ObjectTransaction (4.29+) and returns an error matching errors.ErrUnsupported on an
// older one. Like CommitIfAbsent it is atomic with respect to every filerstore's Commit, not
// to writers that bypass the group's lock; an entry written by the SeaweedFS gateway has no
// MD5, so its ETag is "" and another gateway write to it between the read and the delete
// would go unnoticed.
func (s *Store) ExpireOffsets(ctx context.Context, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return call(ctx, s, "ExpireOffsets", group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		return s.expireOffsets(ctx, group, false, 0, expired)
	})
}

var errNoTransactions = fmt.Errorf("filerstore: the filer has no ObjectTransaction (SeaweedFS 4.29+): %w", errors.ErrUnsupported)

// expireOffsets is ExpireOffsets and, with fenced, ExpireOffsetsFenced under fence.
func (s *Store) expireOffsets(ctx context.Context, group string, fenced bool, fence int64, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	var err error
	if fenced {
		err = s.fenced(ctx, group)
	} else {
		err = s.probeTxn(ctx, s.groupDir(group))
	}
	if err != nil {
		return nil, err
	}
	expired, err = s.unexpired(ctx, group, expired)
	if err != nil {
		return nil, err
	}
	stored, err := s.readGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	var (
		keys []offsetstore.TopicPartition
		txn  []*filer_pb.ObjectMutation
	)
	for tp, st := range stored {
		if !expired(tp, st.offset) {
			continue
		}
		keys = append(keys, tp)
		txn = append(txn, &filer_pb.ObjectMutation{
			Type:         filer_pb.ObjectMutation_DELETE,
			Directory:    st.dir,
			Name:         offsetFileName,
			IsDeleteData: true,
			Condition: &filer_pb.WriteCondition{Clauses: []*filer_pb.WriteCondition_Clause{{
				Kind:  filer_pb.WriteCondition_IF_ETAG_MATCH,
				Etags: []string{entryETag(st.entry)},
			}}},
		})
	}
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(keys))
	var skipped []int
	switch {
	case fenced:
		skipped, err = s.fencedTransact(ctx, group, fence, txn) // an empty one still checks the fence
	case len(txn) == 0:
		return out, nil
	default:
		skipped, err = s.transact(ctx, s.groupDir(group), txn)
		if isUnimplemented(err) {
			s.noTxn.Store(true)
			return nil, errNoTransactions
		}
	}
	if err != nil {
		return nil, err
	}
	for _, i := range skipped {
		keys[i] = offsetstore.TopicPartition{Partition: -1} // changed since it was read
	}
	for _, tp := range keys {
		if tp.Partition >= 0 {
			out[tp] = stored[tp].offset
		}
	}
	return out, nil
}

// probeTxn returns errNoTransactions when the filer has no ObjectTransaction, asking it with
// an empty transaction until the store knows.
func (s *Store) probeTxn(ctx context.Context, lockKey string) error {
	switch {
	case s.noTxn.Load():
		return errNoTransactions
	case s.hasTxn.Load():
		return nil
	}
	_, err := s.submitTxn(ctx, &filer_pb.ObjectTransactionRequest{LockKey: lockKey, RouteKey: lockKey})
	switch {
	case isUnimplemented(err):
		s.noTxn.Store(true)
		return errNoTransactions
	case err != nil:
		return fmt.Errorf("ObjectTransaction: %w", err)
	}
	s.hasTxn.Store(true)
	return nil
}
