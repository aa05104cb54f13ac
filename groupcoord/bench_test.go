package groupcoord_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/offsetkit/offsetkit/groupcoord"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// unfencedStore hides a store's capabilities but expiry: the coordinator serializes instead of
// fencing.
type unfencedStore struct {
	offsetstore.Store
	offsetstore.Expirer
}

// BenchmarkCommitPath measures one OffsetCommit of 8 partitions through a protocol Handler
// whose GroupValidator is a Coordinator, over memstore, from request bytes to response: a
// standalone commit (generation -1) and a commit of the member of a Stable group. "fenced" is
// memstore as it is (an offsetstore.Fencer: every write carries the group's fence);
// "serialized" hides its fences (the coordinator tracks writes in flight instead).
//
//	go test -run '^$' -bench CommitPath ./groupcoord
func BenchmarkCommitPath(b *testing.B) {
	for _, store := range []string{"fenced", "serialized"} {
		for _, kind := range []string{"standalone", "member"} {
			b.Run(store+"/"+kind, func(b *testing.B) {
				ctx := context.Background()
				mem := memstore.New(memstore.Options{})
				b.Cleanup(func() { _ = mem.Close() })
				var st offsetstore.Store = mem
				if store == "serialized" {
					st = unfencedStore{mem, mem}
				}
				c := groupcoord.New(groupcoord.Options{Store: st})
				b.Cleanup(func() { _ = c.Close() })
				h := protocol.New(st, protocol.Options{Groups: c})

				req := benchCommit("bench-group")
				if kind == "member" {
					req.MemberID, req.Generation = benchMember(b, c)
				}
				body := req.AppendTo(nil)
				check := func() {
					resp, err := h.Handle(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					if code := resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
						b.Fatalf("commit answered %d", code)
					}
				}
				check()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := h.HandleBody(ctx, req.Key(), req.Version, body); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				check()
			})
		}
	}
}

// benchCommit is a standalone OffsetCommit (v8) of 8 partitions of "bench-topic" to group.
func benchCommit(group string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "bench-topic"
	for p := range int32(8) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, 1000+int64(p), 5
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// benchMember makes a Stable group "bench-group" with one static member and returns the
// member's id and generation.
func benchMember(b *testing.B, c *groupcoord.Coordinator) (string, int32) {
	ctx := context.Background()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"bench-topic"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 7
	join.Group, join.InstanceID = "bench-group", kmsg.StringPtr("i1")
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 60_000, 60_000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	j := c.JoinGroup(ctx, join, "bench", "127.0.0.1")
	if j.ErrorCode != 0 {
		b.Fatalf("JoinGroup: %d", j.ErrorCode)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.Generation, sync.MemberID, sync.InstanceID = "bench-group", j.Generation, j.MemberID, kmsg.StringPtr("i1")
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), j.Protocol
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID}}
	if s := c.SyncGroup(ctx, sync); s.ErrorCode != 0 {
		b.Fatalf("SyncGroup: %d", s.ErrorCode)
	}
	return j.MemberID, j.Generation
}

// BenchmarkCommitPathParallel is BenchmarkCommitPath's standalone commit sent by GOMAXPROCS
// goroutines at once, to one group ("one group": each commit waits for the write accepted
// before it, as a group's writes are ordered) or each to its own ("own groups").
//
//	go test -run '^$' -bench CommitPathParallel ./groupcoord
func BenchmarkCommitPathParallel(b *testing.B) {
	for _, groups := range []string{"one group", "own groups"} {
		b.Run(groups, func(b *testing.B) {
			ctx := context.Background()
			mem := memstore.New(memstore.Options{})
			b.Cleanup(func() { _ = mem.Close() })
			c := groupcoord.New(groupcoord.Options{Store: mem})
			b.Cleanup(func() { _ = c.Close() })
			h := protocol.New(mem, protocol.Options{Groups: c})
			var next atomic.Int32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := benchCommit("bench-group")
				if groups == "own groups" {
					req.Group = fmt.Sprintf("bench-group-%d", next.Add(1))
				}
				body := req.AppendTo(nil)
				resp, err := h.Handle(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				if code := resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
					b.Errorf("commit answered %d", code)
					return
				}
				for pb.Next() {
					if _, err := h.HandleBody(ctx, req.Key(), req.Version, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
