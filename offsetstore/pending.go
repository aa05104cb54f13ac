package offsetstore

import (
	"context"
)

// PendingTxn names the transaction a pending offset belongs to: the producer id and epoch a
// transaction coordinator gave a transactional id (Kafka's InitProducerId).
type PendingTxn struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
}

// PendingGroup is one group with pending offsets of one transaction, as ListPending reports
// it: what a restarted transaction coordinator must complete.
type PendingGroup struct {
	Group string
	Txn   PendingTxn // the transaction as its last StagePending named it
}

// PendingCommitter is the capability transactional offset commits need (Kafka's
// TxnOffsetCommit, KIP-98 and KIP-447): offsets kept pending per group and producer until the
// producer's transaction commits, when they become the group's committed offsets, or aborts,
// when they are dropped. It is the store side of Kafka's pending transactional offsets and
// of the transaction markers that complete them.
//
// The rules, checked by package storetest:
//
//   - StagePending adds offsets to the pending offsets of (group, txn.ProducerID), replacing a
//     partition already pending for that pair, and records txn (the transactional id and
//     epoch of the last call) with them. Pending offsets are invisible to Fetch, FetchAll,
//     FetchInto and ExpireOffsets and are never expired.
//   - CompletePending with commit true stores every pending offset of (group, producerID) as
//     Commit stores it, except for a partition whose committed offset was written after the
//     pending offset was staged (by Commit, CommitSlice, or the completion of a transaction
//     that staged that partition later): the later write wins, as in Kafka, where the offset
//     record with the higher log position wins. CommitIfAbsent, which fills in older
//     offsets where none is stored (a migration copying up), is not such a write. Stores
//     that cannot order writes exactly order them by the offsets' CommitTime. With commit false the
//     pending offsets are dropped. Either way none remain for the pair afterwards, and
//     completing a pair with nothing pending is not an error (a marker may be sent twice).
//   - Delete and DeleteGroup (and their fenced forms) drop the pending offsets of every
//     transaction for the partitions, or the group, they delete, as Kafka's offset
//     tombstones do.
//   - PendingPartitions returns every partition of group with a pending offset of any
//     transaction, each once, in no particular order (empty, not an error, when there is
//     none). ListPending returns every (group, transaction) pair with pending offsets.
//   - StagePendingFenced is StagePending applied only while the group's fence (Fencer) is
//     fence, failing with ErrFenced otherwise; a store that is not a Fencer returns an error
//     matching errors.ErrUnsupported from it.
//   - A durable store keeps pending offsets across Close and a new open, like committed ones,
//     so a transaction committed after a restart still materializes its offsets.
//   - A negative partition fails StagePending with ErrInvalid before anything is staged.
//     Errors, contexts, Close and copying follow the Store contract.
//
// Fallback: without a PendingCommitter a gateway cannot serve TxnOffsetCommit (package
// protocol does not advertise it), because committing a transaction's offsets directly would
// make them visible before the transaction commits and keep them if it aborts.
type PendingCommitter interface {
	StagePending(ctx context.Context, group string, txn PendingTxn, offsets map[TopicPartition]Offset) error
	StagePendingFenced(ctx context.Context, group string, fence int64, txn PendingTxn, offsets map[TopicPartition]Offset) error
	CompletePending(ctx context.Context, group string, producerID int64, commit bool) error
	PendingPartitions(ctx context.Context, group string) ([]TopicPartition, error)
	ListPending(ctx context.Context) ([]PendingGroup, error)
}
