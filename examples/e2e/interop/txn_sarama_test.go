package interop

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
)

// newSaramaTxnProducer returns a Sarama transactional producer (FindCoordinator v3 with key
// type 1, InitProducerId) of addr, closed when the test ends.
func newSaramaTxnProducer(t *testing.T, addr, transactionalID string) sarama.AsyncProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sarama-txn-interop"
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Transaction.ID = transactionalID
	cfg.Producer.Transaction.Retry.Backoff = 20 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// committedAt reads group's committed offset of t1/partition through kadm (-1 when none).
func committedAt(t *testing.T, adm *kadm.Client, group string, partition int32) int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(testContext(t), group)
	require.NoError(t, err)
	o, ok := resp.Lookup("t1", partition)
	if !ok {
		return -1
	}
	return o.At
}

// TestSaramaTransactionalOffsets commits a group's offsets in a transaction with Sarama's
// transactional producer (AddOffsetsToTxn, TxnOffsetCommit, EndTxn): invisible to OffsetFetch
// until CommitTxn, discarded by AbortTxn.
func TestSaramaTransactionalOffsets(t *testing.T) {
	gw := startGateway(t, nil, "")
	adm := newKadm(t, gw.addr)
	const group = "sarama-txn"
	p := newSaramaTxnProducer(t, gw.addr, "sarama-txn-1")

	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"t1": {{Partition: 0, Offset: 10}, {Partition: 1, Offset: 11}},
	}, group))
	require.Equal(t, int64(-1), committedAt(t, adm, group, 0), "offsets are invisible before the commit")
	require.NoError(t, p.CommitTxn())
	require.Equal(t, int64(10), committedAt(t, adm, group, 0))
	require.Equal(t, int64(11), committedAt(t, adm, group, 1))

	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"t1": {{Partition: 0, Offset: 20}},
	}, group))
	require.NoError(t, p.AbortTxn())
	require.Equal(t, int64(10), committedAt(t, adm, group, 0), "an aborted transaction leaves the offsets unchanged")

	// A new producer for the transactional id fences this one.
	_ = newSaramaTxnProducer(t, gw.addr, "sarama-txn-1")
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"t1": {{Partition: 0, Offset: 30}},
	}, group))
	require.Error(t, p.CommitTxn(), "a fenced producer cannot commit")
	require.Equal(t, int64(10), committedAt(t, adm, group, 0))
}
