package memstore

import (
	"context"

	"github.com/offsetkit/offsetkit/offsetstore"
)

var _ offsetstore.PendingCommitter = (*Store)(nil)

// pendingGroup is the pending transactional offsets of one group, by producer id.
type pendingGroup struct {
	txns map[int64]*pendingTxn
	seq  uint64 // the last staging sequence number handed out in the group
}

// pendingTxn is the pending offsets of one producer in one group.
type pendingTxn struct {
	txn     offsetstore.PendingTxn
	offsets map[offsetstore.TopicPartition]pendingEntry
}

// pendingEntry is one pending offset: the offset, when it was staged (seq, increasing in the
// group), and whether a write made after that supersedes it.
type pendingEntry struct {
	e          entry
	seq        uint64
	superseded bool
}

// supersede marks every pending offset of tp staged before seq as overwritten by a later
// write: committing its transaction will not store it. A plain commit passes MaxUint64.
func (pg *pendingGroup) supersede(tp offsetstore.TopicPartition, seq uint64) {
	for _, t := range pg.txns {
		if pe, ok := t.offsets[tp]; ok && pe.seq < seq {
			pe.superseded = true
			t.offsets[tp] = pe
		}
	}
}

// drop removes the pending offsets of tp from every transaction.
func (pg *pendingGroup) drop(tp offsetstore.TopicPartition) {
	for _, t := range pg.txns {
		delete(t.offsets, tp)
	}
}

// has reports whether any transaction has a pending offset for tp; false for a nil pg.
func (pg *pendingGroup) has(tp offsetstore.TopicPartition) bool {
	if pg == nil {
		return false
	}
	for _, t := range pg.txns {
		if _, ok := t.offsets[tp]; ok {
			return true
		}
	}
	return false
}

// deleted drops the pending offsets of the deleted partitions tps of group (every partition
// when all). The caller holds the shard's write lock.
func (sh *shard) deleted(group string, tps []offsetstore.TopicPartition, all bool) {
	pg := sh.pending[group]
	if pg == nil {
		return
	}
	if all {
		delete(sh.pending, group)
		return
	}
	for _, tp := range tps {
		pg.drop(tp)
	}
}

// StagePending implements offsetstore.PendingCommitter: it adds offsets to the pending offsets
// of group's transaction txn.ProducerID.
func (s *Store) StagePending(ctx context.Context, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.stagePending(ctx, "StagePending", group, txn, offsets, unfenced)
}

// StagePendingFenced implements offsetstore.PendingCommitter: StagePending, applied only while
// the group's fence is fenceEpoch.
func (s *Store) StagePendingFenced(ctx context.Context, group string, fenceEpoch int64, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.stagePending(ctx, "StagePendingFenced", group, txn, offsets, fence{on: true, epoch: fenceEpoch})
}

func (s *Store) stagePending(ctx context.Context, op, group string, txn offsetstore.PendingTxn, offsets map[offsetstore.TopicPartition]offsetstore.Offset, f fence) error {
	sh, err := s.lockWrite(ctx, op, group, offsets, f)
	if sh == nil {
		return err
	}
	defer sh.mu.Unlock()
	pg := sh.pending[group]
	if pg == nil {
		pg = &pendingGroup{txns: make(map[int64]*pendingTxn)}
		sh.pending[group] = pg
	}
	t := pg.txns[txn.ProducerID]
	if t == nil {
		t = &pendingTxn{offsets: make(map[offsetstore.TopicPartition]pendingEntry, len(offsets))}
		pg.txns[txn.ProducerID] = t
	}
	t.txn = txn
	for tp, o := range offsets {
		pg.seq++
		t.offsets[tp] = pendingEntry{e: toEntry(o), seq: pg.seq}
	}
	return nil
}

// CompletePending implements offsetstore.PendingCommitter: under the group's lock it stores
// (commit) or drops the pending offsets of producerID. A pending offset overwritten by a later
// write is dropped either way.
func (s *Store) CompletePending(ctx context.Context, group string, producerID int64, commit bool) error {
	const op = "CompletePending"
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	pg := sh.pending[group]
	if pg == nil {
		return nil
	}
	t := pg.txns[producerID]
	if t == nil {
		return nil
	}
	delete(pg.txns, producerID)
	if len(pg.txns) == 0 {
		delete(sh.pending, group)
	}
	if !commit {
		return nil
	}
	var w writer
	for tp, pe := range t.offsets {
		if pe.superseded {
			continue
		}
		if w.g == nil {
			w.g = sh.group(group)
		}
		w.set(tp, pe.e.toOffset(), false)
		pg.supersede(tp, pe.seq)
	}
	return nil
}

// PendingPartitions implements offsetstore.PendingCommitter: every partition of group with a
// pending offset of any transaction.
func (s *Store) PendingPartitions(ctx context.Context, group string) ([]offsetstore.TopicPartition, error) {
	const op = "PendingPartitions"
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	sh, err := s.rlockShard(op, group)
	if err != nil {
		return nil, err
	}
	defer sh.mu.RUnlock()
	out := []offsetstore.TopicPartition{}
	pg := sh.pending[group]
	if pg == nil {
		return out, nil
	}
	seen := make(map[offsetstore.TopicPartition]bool)
	for _, t := range pg.txns {
		for tp := range t.offsets {
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	return out, nil
}

// ListPending implements offsetstore.PendingCommitter: every group and transaction with
// pending offsets.
func (s *Store) ListPending(ctx context.Context) ([]offsetstore.PendingGroup, error) {
	const op = "ListPending"
	if err := s.check(ctx, op, ""); err != nil {
		return nil, err
	}
	out := []offsetstore.PendingGroup{}
	for i := range s.shards {
		sh, err := s.rlockShardAt(op, i)
		if err != nil {
			return nil, err
		}
		for g, pg := range sh.pending {
			for _, t := range pg.txns {
				if len(t.offsets) > 0 {
					out = append(out, offsetstore.PendingGroup{Group: g, Txn: t.txn})
				}
			}
		}
		sh.mu.RUnlock()
	}
	return out, nil
}
