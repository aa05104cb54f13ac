package txncoord_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/txncoord"
)

// A gateway wires a Coordinator and a protocol.Handler to each other: the Coordinator checks
// the producer of every TxnOffsetCommit, and the Handler completes a transaction's offsets
// when the Coordinator ends it.
func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	var h *protocol.Handler
	coord, err := txncoord.New(txncoord.Options{Completer: txncoord.CompleterFunc(
		func(ctx context.Context, pid int64, groups []string, commit bool) error {
			return h.CompleteTransaction(ctx, pid, groups, commit)
		})})
	if err != nil {
		panic(err)
	}
	defer coord.Close()
	h = protocol.New(store, protocol.Options{Transactions: coord})

	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr("orders-processor"), 60_000
	producer := coord.InitProducerID(ctx, init)

	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "orders-processor", producer.ProducerID, producer.ProducerEpoch, "orders"
	fmt.Println("AddOffsetsToTxn:", coord.AddOffsetsToTxn(ctx, add).ErrorCode)

	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.Version = 3
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = "orders-processor", "orders", producer.ProducerID, producer.ProducerEpoch
	topic := kmsg.NewTxnOffsetCommitRequestTopic()
	topic.Topic = "orders"
	part := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	part.Offset = 42
	topic.Partitions = append(topic.Partitions, part)
	commit.Topics = append(commit.Topics, topic)
	resp, _ := h.TxnOffsetCommit(ctx, commit)
	fmt.Println("TxnOffsetCommit:", resp.Topics[0].Partitions[0].ErrorCode)

	tp := offsetstore.TopicPartition{Topic: "orders"}
	before, _ := store.Fetch(ctx, "orders", []offsetstore.TopicPartition{tp})
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "orders-processor", producer.ProducerID, producer.ProducerEpoch, true
	fmt.Println("EndTxn:", coord.EndTxn(ctx, end).ErrorCode)
	after, _ := store.Fetch(ctx, "orders", []offsetstore.TopicPartition{tp})
	fmt.Println("committed before EndTxn:", len(before), "after:", after[tp].Offset)
	// Output:
	// AddOffsetsToTxn: 0
	// TxnOffsetCommit: 0
	// EndTxn: 0
	// committed before EndTxn: 0 after: 42
}
