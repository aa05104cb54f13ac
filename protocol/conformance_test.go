package protocol_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// env is one conformance case's world: a store, a coordinator and a Handler over them.
type env struct {
	t     *testing.T
	ctx   context.Context
	store offsetstore.Store
	coord *testCoordinator
	h     *protocol.Handler
}

// newEnv builds an env; mod may adjust the Options (Groups is the test coordinator).
func newEnv(t *testing.T, mod func(*protocol.Options)) *env {
	e := &env{t: t, ctx: context.Background(), store: newStore(t), coord: &testCoordinator{groups: map[string]*testGroup{}}}
	opts := protocol.Options{Groups: e.coord, Now: clock, TopicIDs: testIDs}
	if mod != nil {
		mod(&opts)
	}
	e.h = protocol.New(e.store, opts)
	return e
}

// testIDs resolves topic "tN"-style names to ids whose first byte is the name's first byte
// and second byte its length; id 0xEE.. never resolves.
var testIDs = protocol.TopicResolverFunc(func(_ context.Context, ref protocol.TopicRef) (protocol.TopicRef, bool) {
	if ref.Name != "" {
		if ref.Name == "zz" {
			return ref, false
		}
		ref.ID = topicID(ref.Name)
		return ref, true
	}
	for _, name := range []string{"t", "u", "a", "b"} {
		if topicID(name) == ref.ID {
			ref.Name = name
			return ref, true
		}
	}
	return ref, false
})

func topicID(name string) [16]byte {
	var id [16]byte
	id[0], id[1] = name[0], byte(len(name))
	return id
}

func (e *env) commit(req *kmsg.OffsetCommitRequest) []string {
	e.t.Helper()
	return commitCodes(commitOK(e.ctx, e.t, e.h, req))
}

func (e *env) fetch(req *kmsg.OffsetFetchRequest) []fetchGroupResult {
	e.t.Helper()
	return fetchResults(fetchOK(e.ctx, e.t, e.h, req))
}

func (e *env) stored(group string) map[offsetstore.TopicPartition]offsetstore.Offset {
	e.t.Helper()
	return fetchAllOK(e.ctx, e.t, e.store, group)
}

func deleteReq(group string, topics ...any) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	for i := 0; i < len(topics); i += 2 {
		t := kmsg.NewOffsetDeleteRequestTopic()
		t.Topic = topics[i].(string)
		for _, p := range topics[i+1].([]int32) {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
	return req
}

var (
	none         = int16(0)
	unknownTP    = kerr.UnknownTopicOrPartition.Code
	unknownMem   = kerr.UnknownMemberID.Code
	illegalGen   = kerr.IllegalGeneration.Code
	groupNF      = kerr.GroupIDNotFound.Code
	groupAuth    = kerr.GroupAuthorizationFailed.Code
	topicAuth    = kerr.TopicAuthorizationFailed.Code
	mdTooLarge   = kerr.OffsetMetadataTooLarge.Code
	coordNA      = kerr.CoordinatorNotAvailable.Code
	notCoord     = kerr.NotCoordinator.Code
	loadInProg   = kerr.CoordinatorLoadInProgress.Code
	unknownTID   = kerr.UnknownTopicID.Code
	missingFetch = fetched{Offset: -1, Epoch: -1, Metadata: ""}
)

// TestConformance runs numbered behaviour cases of Kafka's offset APIs (the rules of
// docs/kafka-semantics.md) that apply to a Handler without TxnOffsetCommit, each named after
// its number and rule; number 16, a transactional case, is left out.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"01 commit gen -1 to a missing group succeeds and creates a simple group", func(t *testing.T) {
			for v := int16(1); v <= 10; v++ {
				e := newEnv(t, nil)
				req := commitReq(v, "g", -1, "", "t", []part{{0, 42, 7, nil}, {1, 43, -1, strp("md")}})
				if v >= 10 {
					req.Topics[0].TopicID = topicID("t")
				}
				require.Equal(t, codes("t/0", none, "t/1", none), e.commit(req), "v%d", v)
				groups := listGroupsOK(e.ctx, t, e.store)
				require.Equal(t, []string{"g"}, groups, "v%d: the group now exists", v)
				fv := min(v, 9)
				got := e.fetch(fetchReq(fv, "g", "t", []int32{0, 1}))[0]
				wantEpoch := int32(-1)
				if v >= 6 {
					wantEpoch = 7
				}
				assert.Equal(t, fetched{Offset: 42, Epoch: wantEpoch, Metadata: ""}, got.Partitions["t/0"], "v%d: null metadata fetched as \"\"", v)
				assert.Equal(t, fetched{Offset: 43, Epoch: -1, Metadata: "md"}, got.Partitions["t/1"], "v%d", v)
				// The simple group is Empty: a generation now gets UNKNOWN_MEMBER_ID (case 5).
				assert.Equal(t, codes("t/0", unknownMem), e.commit(commitReq(min(v, 9), "g", 1, "m", "t", []part{{0, 1, -1, nil}})))
			}
		}},
		{"02 commit gen -1 to a group with a Stable member gets UNKNOWN_MEMBER_ID and stores nothing", func(t *testing.T) {
			e := newEnv(t, nil)
			e.coord.groups["g"] = &testGroup{state: "Stable", protocolType: "consumer", generation: 3, members: map[string]*string{"m1": nil}}
			got := e.commit(commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}, {1, 2, -1, nil}}))
			assert.Equal(t, codes("t/0", unknownMem, "t/1", unknownMem), got)
			assert.Empty(t, e.stored("g"))
		}},
		{"03 member commits follow the classic group's state and generation", func(t *testing.T) {
			inst := "i1"
			for _, c := range []struct {
				name, state, member string
				gen                 int32
				instance            *string
				want                int16
			}{
				{"Stable", "Stable", "m1", 3, nil, none},
				{"PreparingRebalance", "PreparingRebalance", "m1", 3, nil, none},
				{"CompletingRebalance", "CompletingRebalance", "m1", 3, nil, kerr.RebalanceInProgress.Code},
				{"wrong generation", "Stable", "m1", 2, nil, illegalGen},
				{"unknown member", "Stable", "zz", 3, nil, unknownMem},
				{"static instance of another member", "Stable", "m1", 3, &inst, kerr.FencedInstanceID.Code},
			} {
				t.Run(c.name, func(t *testing.T) {
					e := newEnv(t, nil)
					e.coord.groups["g"] = &testGroup{state: c.state, protocolType: "consumer", generation: 3,
						members: map[string]*string{"m1": nil, "m2": &inst}}
					req := commitReq(7, "g", c.gen, c.member, "t", []part{{0, 5, -1, nil}})
					req.InstanceID = c.instance
					assert.Equal(t, codes("t/0", c.want), e.commit(req))
					assert.Equal(t, c.want == 0, len(e.stored("g")) == 1, "stored iff accepted")
				})
			}
		}},
		{"04 gen 5 to a missing group: ILLEGAL_GENERATION up to v8, GROUP_ID_NOT_FOUND from v9", func(t *testing.T) {
			for v := int16(1); v <= 10; v++ {
				e := newEnv(t, nil)
				req := commitReq(v, "g", 5, "m", "t", []part{{0, 1, -1, nil}})
				req.Topics[0].TopicID = topicID("t")
				want := illegalGen
				if v >= 9 {
					want = groupNF
				}
				assert.Equal(t, codes("t/0", want), e.commit(req), "v%d", v)
				assert.Empty(t, e.stored("g"), "v%d", v)
			}
		}},
		{"05 gen 5 to an existing Empty group gets UNKNOWN_MEMBER_ID", func(t *testing.T) {
			for _, v := range []int16{1, 8, 9} {
				e := newEnv(t, nil)
				require.NoError(t, offsetstore.CommitOne(e.ctx, e.store, "g", offsetstore.TopicPartition{Topic: "t", Partition: 1}, offsetstore.Offset{Offset: 9}))
				assert.Equal(t, codes("t/0", unknownMem), e.commit(commitReq(v, "g", 5, "m", "t", []part{{0, 1, -1, nil}})), "v%d", v)
			}
		}},
		{"06 metadata over the limit fails only its partition", func(t *testing.T) {
			e := newEnv(t, nil)
			got := e.commit(commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, strp(strings.Repeat("x", 4097))}, {1, 2, -1, strp("ok")}, {2, 3, -1, strp(strings.Repeat("x", 4096))}}))
			assert.Equal(t, codes("t/0", mdTooLarge, "t/1", none, "t/2", none), got)
			st := e.stored("g")
			assert.Equal(t, 2, len(st))
			assert.Equal(t, "ok", st[offsetstore.TopicPartition{Topic: "t", Partition: 1}].Metadata)
			// Lengths count UTF-16 units, like Java: 4096 "é" (8192 bytes) fit, 2049 "𝄞" (4098 units) do not.
			got = e.commit(commitReq(9, "g", -1, "", "t", []part{{3, 1, -1, strp(strings.Repeat("é", 4096))}, {4, 1, -1, strp(strings.Repeat("𝄞", 2049))}, {5, 1, -1, strp(strings.Repeat("𝄞", 2048))}}))
			assert.Equal(t, codes("t/3", none, "t/4", mdTooLarge, "t/5", none), got)
		}},
		{"07 unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION, the rest is committed", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) { o.Topics = topicsOf(map[string]int32{"t": 3}) })
			got := e.commit(commitReq(9, "g", -1, "", "zz", []part{{0, 1, -1, nil}, {1, 1, -1, nil}}, "t", []part{{0, 10, -1, nil}, {-1, 1, -1, nil}, {99, 1, -1, nil}, {3, 1, -1, nil}}))
			assert.Equal(t, codes("zz/0", unknownTP, "zz/1", unknownTP, "t/0", none, "t/-1", unknownTP, "t/99", unknownTP, "t/3", unknownTP), got)
			assert.Equal(t, map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: 0}: {Offset: 10, LeaderEpoch: -1, CommitTime: fixedNow}}, e.stored("g"))
		}},
		{"08 a commit whose every partition is unknown creates no group and consults no coordinator", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) { o.Topics = topicsOf(map[string]int32{"t": 1}) })
			got := e.commit(commitReq(8, "g", 5, "bad", "zz", []part{{0, 1, -1, nil}}, "t", []part{{4, 1, -1, nil}}))
			assert.Equal(t, codes("zz/0", unknownTP, "t/4", unknownTP), got)
			assert.Empty(t, listGroupsOK(e.ctx, t, e.store))
			assert.Equal(t, 0, e.coord.calls)
			// A request with no topics at all is answered empty, likewise.
			assert.Empty(t, e.commit(commitReq(8, "g", 5, "bad")))
			assert.Equal(t, 0, e.coord.calls)
		}},
		{"09 group ACL denied: every partition GROUP_AUTHORIZATION_FAILED, unknown topics included", func(t *testing.T) {
			fs := &faultStore{Store: newStore(t)}
			coord := &testCoordinator{}
			h := protocol.New(fs, protocol.Options{Groups: coord, Authorizer: deny("READ:GROUP:g"), Topics: topicsOf(map[string]int32{"t": 1})})
			resp := commitOK(context.Background(), t, h, commitReq(9, "g", -1, "", "zz", []part{{0, 1, -1, nil}}, "t", []part{{0, 1, -1, nil}}))
			assert.Equal(t, codes("zz/0", groupAuth, "t/0", groupAuth), commitCodes(resp))
			assert.Equal(t, 0, fs.commits+fs.fetchAlls+coord.calls, "nothing past the ACL is reached")
		}},
		{"10 a negative offset is stored and fetched verbatim", func(t *testing.T) {
			e := newEnv(t, nil)
			assert.Equal(t, codes("t/0", none), e.commit(commitReq(9, "g", -1, "", "t", []part{{0, -5, -1, nil}})))
			assert.Equal(t, int64(-5), e.fetch(fetchReq(9, "g", "t", []int32{0}))[0].Partitions["t/0"].Offset)
		}},
		{"11 the group id \"\" is valid for commit and fetch", func(t *testing.T) {
			e := newEnv(t, nil)
			assert.Equal(t, codes("t/0", none), e.commit(commitReq(2, "", -1, "", "t", []part{{0, 3, -1, nil}})))
			got := e.fetch(fetchReq(3, "", "t", []int32{0}))[0]
			assert.Equal(t, none, got.Code)
			assert.Equal(t, int64(3), got.Partitions["t/0"].Offset)
		}},
		{"12 v10: an unknown topic id gets UNKNOWN_TOPIC_ID and is echoed", func(t *testing.T) {
			e := newEnv(t, nil)
			req := commitReq(10, "g", -1, "", "", []part{{0, 1, -1, nil}, {1, 1, -1, nil}}, "", []part{{0, 2, -1, nil}})
			bad := [16]byte{0xEE, 1}
			req.Topics[0].TopicID, req.Topics[1].TopicID = bad, topicID("t")
			resp := commitOK(e.ctx, t, e.h, req)
			require.Equal(t, 2, len(resp.Topics))
			assert.Equal(t, bad, resp.Topics[0].TopicID)
			assert.Equal(t, []int16{unknownTID, unknownTID}, []int16{resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[0].Partitions[1].ErrorCode})
			assert.Equal(t, topicID("t"), resp.Topics[1].TopicID)
			assert.Equal(t, none, resp.Topics[1].Partitions[0].ErrorCode)
			assert.Equal(t, 1, len(e.stored("g")))
		}},
		{"13 a coordinator error goes on forwarded partitions only", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) {
				o.Topics = topicsOf(map[string]int32{"t": 2})
				o.Groups = protocol.GroupValidatorFunc(func(context.Context, protocol.GroupRequest) (protocol.GroupResult, error) {
					return protocol.GroupResult{}, kerr.CoordinatorLoadInProgress
				})
			})
			got := e.commit(commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}, {1, 1, -1, nil}, {7, 1, -1, nil}}, "zz", []part{{0, 1, -1, nil}}))
			assert.Equal(t, codes("t/0", loadInProg, "t/1", loadInProg, "t/7", unknownTP, "zz/0", unknownTP), got)
			assert.Empty(t, e.stored("g"))
		}},
		{"14 fetch of an unknown group: {-1, -1, \"\", NONE}, and null topics give no topics", func(t *testing.T) {
			e := newEnv(t, nil)
			for v := int16(0); v <= 9; v++ {
				got := e.fetch(fetchReq(v, "nope", "t", []int32{0, 1}))[0]
				assert.Equal(t, none, got.Code, "v%d", v)
				assert.Equal(t, map[string]fetched{"t/0": missingFetch, "t/1": missingFetch}, got.Partitions, "v%d", v)
				if v >= 2 {
					all := e.fetch(fetchReq(v, "nope"))[0]
					assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{}}, all, "v%d", v)
				}
			}
			assert.Empty(t, listGroupsOK(e.ctx, t, e.store), "a fetch creates no group")
		}},
		{"15 an unknown topic name in a fetch is -1 with NONE", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) { o.Topics = topicsOf(map[string]int32{"t": 1}) })
			e.commit(commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}}))
			got := e.fetch(fetchReq(9, "g", "nosuch", []int32{0, -1}))[0]
			assert.Equal(t, map[string]fetched{"nosuch/0": missingFetch, "nosuch/-1": missingFetch}, got.Partitions)
		}},
		{"17 v8: a group denied by ACL fails alone", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) { o.Authorizer = deny("DESCRIBE:GROUP:secret") })
			e.commit(commitReq(9, "ok", -1, "", "t", []part{{0, 8, -1, nil}}))
			req := fetchReq(8, "secret", "t", []int32{0})
			req.Groups = append(req.Groups, fetchReq(8, "ok", "t", []int32{0}).Groups...)
			got := e.fetch(req)
			require.Equal(t, 2, len(got))
			assert.Equal(t, fetchGroupResult{Code: groupAuth, Partitions: map[string]fetched{}}, got[0])
			assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{"t/0": {Offset: 8, Epoch: -1}}, Count: 1}, got[1])
		}},
		{"18 fetch group errors: top-level for v2-v7, on every requested partition for v0-v1", func(t *testing.T) {
			e := newEnv(t, func(o *protocol.Options) {
				o.Groups = protocol.GroupValidatorFunc(func(context.Context, protocol.GroupRequest) (protocol.GroupResult, error) {
					return protocol.GroupResult{}, kerr.NotCoordinator
				})
			})
			for v := int16(0); v <= 9; v++ {
				got := e.fetch(fetchReq(v, "g", "t", []int32{0, 1}, "u", []int32{2}))[0]
				if v >= 2 {
					assert.Equal(t, fetchGroupResult{Code: notCoord, Partitions: map[string]fetched{}}, got, "v%d", v)
					continue
				}
				f := fetched{Offset: -1, Epoch: -1, Code: notCoord}
				assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{"t/0": f, "t/1": f, "u/2": f}, Count: 3}, got, "v%d", v)
			}
		}},
		{"19 v9 KIP-848 member checks", func(t *testing.T) {
			e := newEnv(t, nil)
			e.coord.groups["g"] = &testGroup{state: "Stable", kip848: true, epochs: map[string]int32{"m1": 4}}
			for _, c := range []struct {
				name   string
				member *string
				epoch  int32
				want   int16
			}{
				{"admin: null member and epoch -1", nil, -1, none},
				{"member at its epoch", strp("m1"), 4, none},
				{"unknown member", strp("zz"), 4, unknownMem},
				{"wrong epoch", strp("m1"), 3, kerr.StaleMemberEpoch.Code},
			} {
				req := fetchReq(9, "g", "t", []int32{0})
				req.Groups[0].MemberID, req.Groups[0].MemberEpoch = c.member, c.epoch
				assert.Equal(t, c.want, e.fetch(req)[0].Code, c.name)
			}
		}},
		{"20 delete on an Empty group: NONE everywhere, offsets gone", func(t *testing.T) {
			e := newEnv(t, nil)
			e.commit(commitReq(9, "g", -1, "", "t", []part{{0, 1, -1, nil}, {1, 2, -1, nil}}))
			resp := deleteOK(e.ctx, t, e.h, deleteReq("g", "t", []int32{0, 5}))
			top, got := deleteCodes(resp)
			assert.Equal(t, none, top)
			assert.Equal(t, codes("t/0", none, "t/5", none), got)
			assert.Equal(t, []offsetstore.TopicPartition{{Topic: "t", Partition: 1}}, offsetstore.SortedPartitions(e.stored("g")))
		}},
		{"21 delete: subscribed topics, non-empty and missing groups", func(t *testing.T) {
			e := newEnv(t, nil)
			e.commit(commitReq(9, "g", -1, "", "a", []part{{0, 1, -1, nil}}, "b", []part{{0, 1, -1, nil}}))
			e.coord.groups["g"] = &testGroup{state: "Stable", protocolType: "consumer", generation: 1, members: map[string]*string{"m": nil}, subscribed: []string{"a"}}
			top, got := deleteCodes(deleteOK(e.ctx, t, e.h, deleteReq("g", "a", []int32{0}, "b", []int32{0})))
			assert.Equal(t, none, top)
			assert.Equal(t, codes("a/0", kerr.GroupSubscribedToTopic.Code, "b/0", none), got)
			assert.Equal(t, []offsetstore.TopicPartition{{Topic: "a", Partition: 0}}, offsetstore.SortedPartitions(e.stored("g")))

			e.coord.groups["connect"] = &testGroup{state: "Stable", protocolType: "connect", generation: 1, members: map[string]*string{"m": nil}}
			top, got = deleteCodes(deleteOK(e.ctx, t, e.h, deleteReq("connect", "a", []int32{0})))
			assert.Equal(t, kerr.NonEmptyGroup.Code, top)
			assert.Empty(t, got)

			top, got = deleteCodes(deleteOK(e.ctx, t, e.h, deleteReq("missing", "a", []int32{0})))
			assert.Equal(t, groupNF, top)
			assert.Empty(t, got)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}
