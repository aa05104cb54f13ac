package server

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzHandleFrame feeds arbitrary request frames to the gateway's dispatcher: it must answer
// or refuse (an error closes the connection), never panic, and never block beyond the request
// context (a JoinGroup waiting for other members is cut short by it). Every frame is reported
// to the Observer exactly once, as rejected exactly when it is refused.
func FuzzHandleFrame(f *testing.F) {
	seed := func(req kmsg.Request, version int16) {
		req.SetVersion(version)
		b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint16(b, 1)
		b = append(b, 'c')
		if req.IsFlexible() {
			b = append(b, 0)
		}
		f.Add(req.AppendTo(b))
	}
	for _, v := range []int16{0, 3, 5} {
		seed(kmsg.NewPtrApiVersionsRequest(), v)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t1")}, {TopicID: TopicID("t1")}}
	for _, v := range []int16{0, 8, 12, 13} {
		seed(md, v)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g", "h"}
	seed(fc, 3)
	seed(fc, 6)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis = "g", "consumer", 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 2, 't', '1'}}}
	seed(join, 3)
	seed(join, 9)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group = "g"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t1", TopicID: TopicID("t1"), Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 5}}}}
	seed(commit, 8)
	seed(commit, 10)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "g"
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
	seed(fetch, 7)
	seed(fetch, 10)
	seed(kmsg.NewPtrListGroupsRequest(), 5)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"g", ""}
	seed(dg, 6)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	seed(del, 2)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t1", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0}, {Partition: 9}}}}
	seed(lo, 0)
	seed(lo, 11)

	store := memstore.New(memstore.Options{})
	defer store.Close()
	obs := &recorder{}
	s, err := New(Options{Store: store, Topics: []Topic{{Name: "t1", Partitions: 3}}, Observer: obs})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	c := &conn{host: "127.0.0.1", self: brokerOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092})}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 8 {
			return // the connection loop refuses frames shorter than 8 bytes before this
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		obs.take()
		out, err := s.handleFrame(ctx, c, frame, nil)
		if err == nil && len(out) < 8 {
			t.Fatalf("answer of %d bytes", len(out))
		}
		evs := obs.take()
		if len(evs) != 1 {
			t.Fatalf("%d observer events, want 1", len(evs))
		}
		if (evs[0].Err != nil) != (err != nil) {
			t.Fatalf("event error %v, handleFrame error %v", evs[0].Err, err)
		}
	})
}
