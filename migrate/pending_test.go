package migrate_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// TestPendingInPrimary: a transaction's offsets are staged in the primary and, once committed,
// win over the legacy offsets of the same partitions; an aborted one leaves the legacy ones.
func TestPendingInPrimary(t *testing.T) {
	primary, _, s := setup(t, false)
	txn := offsetstore.PendingTxn{TransactionalID: "tx", ProducerID: 7}
	require.NoError(t, s.StagePending(ctx, "g", txn, offsets{p0: off(50)}))
	pending, err := primary.PendingPartitions(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, []offsetstore.TopicPartition{p0}, pending, "staged in the primary")
	got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
	require.NoError(t, err)
	assert.Equal(t, offsets{p0: off(10)}, got, "the legacy offset while the transaction is open")
	require.NoError(t, s.CompletePending(ctx, "g", 7, true))
	got, err = s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0, p1})
	require.NoError(t, err)
	assert.Equal(t, offsets{p0: off(50), p1: off(11)}, got)

	require.NoError(t, s.StagePending(ctx, "g", txn, offsets{p1: off(60)}))
	listed, err := s.ListPending(ctx)
	require.NoError(t, err)
	assert.Equal(t, []offsetstore.PendingGroup{{Group: "g", Txn: txn}}, listed)
	require.NoError(t, s.CompletePending(ctx, "g", 7, false))
	got, err = s.Fetch(ctx, "g", []offsetstore.TopicPartition{p1})
	require.NoError(t, err)
	assert.Equal(t, offsets{p1: off(11)}, got, "an aborted transaction leaves the legacy offset")
}

// TestPendingNeedsPrimaryPendingCommitter: without a primary PendingCommitter, every
// PendingCommitter method reports errors.ErrUnsupported, as a store without the capability.
func TestPendingNeedsPrimaryPendingCommitter(t *testing.T) {
	_, _, s := setup(t, true)
	txn := offsetstore.PendingTxn{ProducerID: 1}
	calls := map[string]func() error{
		"StagePending":       func() error { return s.StagePending(ctx, "g", txn, offsets{p0: off(1)}) },
		"StagePendingFenced": func() error { return s.StagePendingFenced(ctx, "g", 0, txn, offsets{p0: off(1)}) },
		"CompletePending":    func() error { return s.CompletePending(ctx, "g", 1, true) },
		"PendingPartitions":  func() error { _, err := s.PendingPartitions(ctx, "g"); return err },
		"ListPending":        func() error { _, err := s.ListPending(ctx); return err },
	}
	for op, call := range calls {
		var se *offsetstore.Error
		if err := call(); !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &se) || se.Op != op {
			t.Errorf("%s = %v; want ErrUnsupported in an *offsetstore.Error", op, err)
		}
	}
}
