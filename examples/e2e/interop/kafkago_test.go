package interop

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestKafkaGoClient commits (OffsetCommit v7, leader epoch 0), fetches (OffsetFetch v5) and
// deletes (OffsetDelete v0) offsets with segmentio/kafka-go's Client, and checks that an
// unknown topic is refused by the gateway with UNKNOWN_TOPIC_OR_PARTITION.
func TestKafkaGoClient(t *testing.T) {
	gw := startGateway(t, nil, "t1:3")
	ctx := testContext(t)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(gw.addr), Timeout: 10 * time.Second, Transport: tr}

	commit, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      "kafka-go-group",
		GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{
			"t1":      {{Partition: 0, Offset: 5, Metadata: "five"}, {Partition: 1, Offset: 6}},
			"missing": {{Partition: 0, Offset: 1}},
		},
	})
	require.NoError(t, err)
	for _, p := range commit.Topics["t1"] {
		require.NoError(t, p.Error)
	}
	require.Len(t, commit.Topics["missing"], 1)
	require.True(t, errors.Is(commit.Topics["missing"][0].Error, kafka.UnknownTopicOrPartition), commit.Topics["missing"][0].Error)

	fetched, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kafka-go-group", Topics: map[string][]int{"t1": {0, 1, 2}}})
	require.NoError(t, err)
	require.NoError(t, fetched.Error)
	got := map[int]int64{}
	for _, p := range fetched.Topics["t1"] {
		require.NoError(t, p.Error)
		got[p.Partition] = p.CommittedOffset
		if p.Partition == 0 {
			require.Equal(t, "five", p.Metadata)
		}
	}
	require.Equal(t, map[int]int64{0: 5, 1: 6, 2: -1}, got)

	all, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kafka-go-group"})
	require.NoError(t, err)
	require.Len(t, all.Topics["t1"], 2)

	del, err := cl.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: "kafka-go-group", Topics: map[string][]int{"t1": {0}}})
	require.NoError(t, err)
	require.NoError(t, del.Error)
	for _, p := range del.Topics["t1"] {
		require.NoError(t, p.Error)
	}
	fetched, err = cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kafka-go-group", Topics: map[string][]int{"t1": {0, 1}}})
	require.NoError(t, err)
	got = map[int]int64{}
	for _, p := range fetched.Topics["t1"] {
		got[p.Partition] = p.CommittedOffset
	}
	require.Equal(t, map[int]int64{0: -1, 1: 6}, got)
}
