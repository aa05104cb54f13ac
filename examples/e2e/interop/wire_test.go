package interop

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestApiVersions checks the advertised ranges and Kafka's answer to an ApiVersions version the
// server does not serve: UNSUPPORTED_VERSION at v0 with the server's ApiVersions range, after
// which the client retries within that range on the same connection.
func TestApiVersions(t *testing.T) {
	gw := startGateway(t, nil, "")
	rc := dialRaw(t, gw.addr)

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 99 // a version from the future, with a body we cannot know
	rc.write(rc.frame(req))
	corr, body, err := rc.readFrame()
	require.NoError(t, err)
	require.Equal(t, rc.corr, corr)
	v0 := kmsg.NewPtrApiVersionsResponse()
	v0.Version = 0
	require.NoError(t, v0.ReadFrom(body))
	require.Equal(t, kerr.UnsupportedVersion.Code, v0.ErrorCode)
	require.Len(t, v0.ApiKeys, 1)
	require.Equal(t, kmsg.ApiVersions.Int16(), v0.ApiKeys[0].ApiKey)
	maxV := v0.ApiKeys[0].MaxVersion

	req.Version = maxV
	resp := rc.do(req).(*kmsg.ApiVersionsResponse)
	require.Zero(t, resp.ErrorCode)
	keys := map[kmsg.Key]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		keys[kmsg.Key(k.ApiKey)] = k
	}
	for _, key := range []kmsg.Key{
		kmsg.ApiVersions, kmsg.Metadata, kmsg.FindCoordinator, kmsg.OffsetCommit, kmsg.OffsetFetch,
		kmsg.OffsetDelete, kmsg.JoinGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.SyncGroup,
		kmsg.DescribeGroups, kmsg.ListGroups, kmsg.DeleteGroups,
	} {
		require.Contains(t, keys, key, key.Name())
	}
	require.Equal(t, int16(10), keys[kmsg.OffsetCommit].MaxVersion, "OffsetCommit v10: the gateway resolves topic ids")
	require.Equal(t, int16(10), keys[kmsg.OffsetFetch].MaxVersion, "OffsetFetch v10")
	for key, max := range map[kmsg.Key]int16{kmsg.TxnOffsetCommit: 6, kmsg.InitProducerID: 5, kmsg.AddPartitionsToTxn: 3, kmsg.AddOffsetsToTxn: 4, kmsg.EndTxn: 4} {
		require.Equal(t, max, keys[key].MaxVersion, "offsets-only transactions over memstore: %s", key.Name())
	}
	require.NotContains(t, keys, kmsg.Produce, "no Produce")
	require.NotContains(t, keys, kmsg.Fetch, "no Fetch")
}

// TestUnsupportedRequestsCloseTheConnection: an API key or version the gateway does not serve,
// and malformed bytes, close the connection without an answer, as Kafka does; nothing hangs.
func TestUnsupportedRequestsCloseTheConnection(t *testing.T) {
	gw := startGateway(t, nil, "")
	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 9
	commitV11 := kmsg.NewPtrOffsetCommitRequest()
	commitV11.Version = 8
	tests := []struct {
		name  string
		frame func(rc *rawConn) []byte
	}{
		{"unserved key (Produce)", func(rc *rawConn) []byte { return rc.frame(produce) }},
		{"unserved version (OffsetCommit v11)", func(rc *rawConn) []byte {
			b := rc.frame(commitV11)
			binary.BigEndian.PutUint16(b[6:], 11)
			return b
		}},
		{"unknown key 9999", func(rc *rawConn) []byte {
			b := rc.frame(produce)
			binary.BigEndian.PutUint16(b[4:], 9999)
			return b
		}},
		{"declared size of 2 GiB", func(*rawConn) []byte { return []byte{0x7f, 0xff, 0xff, 0xff, 0, 1} }},
		{"negative size", func(*rawConn) []byte { return []byte{0xff, 0xff, 0xff, 0xfe} }},
		{"frame shorter than a header", func(*rawConn) []byte { return []byte{0, 0, 0, 3, 0, 18, 0} }},
		{"truncated body", func(rc *rawConn) []byte {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 12
			req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t1")}}
			b := rc.frame(req)
			b = b[:len(b)-5]
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}},
		{"array count larger than the frame", func(rc *rawConn) []byte {
			req := kmsg.NewPtrOffsetDeleteRequest()
			req.Group = "g"
			b := rc.frame(req)
			binary.BigEndian.PutUint32(b[len(b)-4:], 0x7fffffff) // topics count
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, gw.addr)
			rc.write(tt.frame(rc))
			require.True(t, rc.closedByPeer(), "the gateway must close the connection")
		})
	}
	// The gateway still serves new connections.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	require.Zero(t, dialRaw(t, gw.addr).do(req).(*kmsg.ApiVersionsResponse).ErrorCode)
}

// TestMetadataAndFindCoordinator checks the single-broker view: topic ids, lookup by id,
// unknown topics, and FindCoordinator in its single-key (v0-v3) and batched (v4+) forms.
func TestMetadataAndFindCoordinator(t *testing.T) {
	gw := startGateway(t, nil, "t1:3,t2:1")
	rc := dialRaw(t, gw.addr)

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{
		{TopicID: server.TopicID("t2")},
		{Topic: kmsg.StringPtr("nope")},
		{TopicID: [16]byte{1, 2, 3}},
	}
	resp := rc.do(md).(*kmsg.MetadataResponse)
	require.Len(t, resp.Brokers, 1)
	require.Equal(t, gw.addr, fmt.Sprintf("%s:%d", resp.Brokers[0].Host, resp.Brokers[0].Port))
	require.Len(t, resp.Topics, 3)
	require.Equal(t, "t2", *resp.Topics[0].Topic)
	require.Len(t, resp.Topics[0].Partitions, 1)
	require.Equal(t, int32(0), resp.Topics[0].Partitions[0].Leader)
	require.Equal(t, kerr.UnknownTopicOrPartition.Code, resp.Topics[1].ErrorCode)
	require.Equal(t, kerr.UnknownTopicID.Code, resp.Topics[2].ErrorCode)

	md.Topics = nil // all
	resp = rc.do(md).(*kmsg.MetadataResponse)
	require.Len(t, resp.Topics, 2)
	require.Equal(t, server.TopicID("t1"), resp.Topics[0].TopicID)
	require.Len(t, resp.Topics[0].Partitions, 3)
	require.NotEqual(t, server.TopicID("t1"), server.TopicID("t2"))

	md0 := kmsg.NewPtrMetadataRequest()
	md0.Version = 0
	md0.Topics = []kmsg.MetadataRequestTopic{}
	require.Len(t, rc.do(md0).(*kmsg.MetadataResponse).Topics, 2, "v0: an empty list means all topics")

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 3
	fc.CoordinatorKey = "any group"
	f3 := rc.do(fc).(*kmsg.FindCoordinatorResponse)
	require.Zero(t, f3.ErrorCode)
	require.Equal(t, int32(0), f3.NodeID)
	require.Equal(t, gw.addr, fmt.Sprintf("%s:%d", f3.Host, f3.Port))

	fc.Version = 6
	fc.CoordinatorKeys = []string{"a", "", "c"}
	f6 := rc.do(fc).(*kmsg.FindCoordinatorResponse)
	require.Len(t, f6.Coordinators, 3)
	for _, c := range f6.Coordinators {
		require.Zero(t, c.ErrorCode)
		require.Equal(t, int32(0), c.NodeID)
	}
	fc.CoordinatorType = 1 // the transaction coordinator of offsets-only transactions
	f6 = rc.do(fc).(*kmsg.FindCoordinatorResponse)
	require.Zero(t, f6.Coordinators[0].ErrorCode)
	require.Equal(t, int32(0), f6.Coordinators[0].NodeID)

	// Over a store without pending offsets there are no transactions.
	plain := startGateway(t, struct{ offsetstore.Store }{newMem(t)}, "")
	rp := dialRaw(t, plain.addr)
	f6 = rp.do(fc).(*kmsg.FindCoordinatorResponse)
	require.Equal(t, kerr.CoordinatorNotAvailable.Code, f6.Coordinators[0].ErrorCode)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	for _, k := range rp.do(av).(*kmsg.ApiVersionsResponse).ApiKeys {
		require.NotContains(t, []kmsg.Key{kmsg.TxnOffsetCommit, kmsg.InitProducerID, kmsg.EndTxn}, kmsg.Key(k.ApiKey))
	}
}

// TestPipelinedRequestsAnsweredInOrder writes many requests before reading any answer: each
// connection's responses come back in request order.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	gw := startGateway(t, nil, "")
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := dialRaw(t, gw.addr)
			var out []byte
			for i := range 50 {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group = fmt.Sprintf("pipe-%d", c)
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = "t1"
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = int32(i%3), int64(i)
				rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{rp}
				req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
				out = append(out, rc.frame(req)...)
			}
			rc.write(out)
			for i := range 50 {
				corr, _, err := rc.readFrame()
				if err != nil || corr != int32(i+1) {
					t.Errorf("conn %d: response %d: correlation %d, err %v", c, i, corr, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 7
	fetch.Group = "pipe-3"
	resp := dialRaw(t, gw.addr).do(fetch).(*kmsg.OffsetFetchResponse)
	got := map[int32]int64{}
	for _, p := range resp.Topics[0].Partitions {
		got[p.Partition] = p.Offset
	}
	require.Equal(t, map[int32]int64{0: 48, 1: 49, 2: 47}, got, "the last commit of each partition wins")
}

// TestCommitToMissingGroupWithGeneration: a member commit (generation >= 0) to a group that
// does not exist is refused with ILLEGAL_GENERATION up to v8 and GROUP_ID_NOT_FOUND from v9,
// and creates nothing, while a standalone commit (generation -1) creates a simple group.
func TestCommitToMissingGroupWithGeneration(t *testing.T) {
	gw := startGateway(t, nil, "")
	require.Equal(t, kerr.IllegalGeneration.Code, rawCommitVersion(t, gw.addr, 8, "ghost", "m", 5, 0, 1))
	require.Equal(t, kerr.GroupIDNotFound.Code, rawCommitVersion(t, gw.addr, 9, "ghost", "m", 5, 0, 1))
	require.Equal(t, kerr.UnknownTopicOrPartition.Code, rawCommitVersion(t, gw.addr, 9, "ghost", "", -1, 3, 1))
	ctx := testContext(t)
	listed, err := newKadm(t, gw.addr).ListGroups(ctx)
	require.NoError(t, err)
	require.Empty(t, listed.Groups(), "refused commits create no group")
	require.Zero(t, rawCommitVersion(t, gw.addr, 9, "ghost", "", -1, 0, 1))
	listed, err = newKadm(t, gw.addr).ListGroups(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"ghost"}, listed.Groups())
}
