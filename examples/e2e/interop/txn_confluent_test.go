package interop

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"
)

// newConfluentTxnProducer returns a confluent-kafka-go (librdkafka) transactional producer of
// addr with its transactions initialized (FindCoordinator with key type 1, InitProducerId),
// closed when the test ends.
func newConfluentTxnProducer(t *testing.T, addr, transactionalID string) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":      addr,
		"client.id":              "confluent-txn-interop",
		"transactional.id":       transactionalID,
		"transaction.timeout.ms": 60000,
		"broker.address.family":  "v4",
	})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	ctx := testContext(t)
	require.NoError(t, p.InitTransactions(ctx))
	return p
}

// TestConfluentTransactionalOffsets commits a group's offsets in a transaction with
// confluent-kafka-go's SendOffsetsToTransaction (AddOffsetsToTxn, FindCoordinator,
// TxnOffsetCommit) and CommitTransaction / AbortTransaction (EndTxn).
func TestConfluentTransactionalOffsets(t *testing.T) {
	gw := startGateway(t, nil, "")
	adm := newKadm(t, gw.addr)
	const group = "confluent-txn"
	ctx := testContext(t)
	p := newConfluentTxnProducer(t, gw.addr, "confluent-txn-1")
	md, err := kafka.NewTestConsumerGroupMetadata(group)
	require.NoError(t, err)
	topic := "t1"
	send := func(at map[int32]int64) {
		var tps []kafka.TopicPartition
		for part, off := range at {
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: part, Offset: kafka.Offset(off)})
		}
		require.NoError(t, p.SendOffsetsToTransaction(ctx, tps, md))
	}

	require.NoError(t, p.BeginTransaction())
	send(map[int32]int64{0: 100, 2: 102})
	require.Equal(t, int64(-1), committedAt(t, adm, group, 0), "offsets are invisible before the commit")
	require.NoError(t, p.CommitTransaction(ctx))
	require.Equal(t, int64(100), committedAt(t, adm, group, 0))
	require.Equal(t, int64(102), committedAt(t, adm, group, 2))

	require.NoError(t, p.BeginTransaction())
	send(map[int32]int64{0: 200})
	require.NoError(t, p.AbortTransaction(ctx))
	require.Equal(t, int64(100), committedAt(t, adm, group, 0), "an aborted transaction leaves the offsets unchanged")

	// A second producer with the same transactional id fences the first.
	_ = newConfluentTxnProducer(t, gw.addr, "confluent-txn-1")
	require.NoError(t, p.BeginTransaction())
	tctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	err = p.SendOffsetsToTransaction(tctx, []kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 300}}, md)
	require.Error(t, err, "a fenced producer cannot send offsets")
	require.Equal(t, int64(100), committedAt(t, adm, group, 0))
}
