package groupcoord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clock is a manual clock for deterministic deadline tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

type fixture struct {
	t     *testing.T
	c     *Coordinator
	clock *clock
	store offsetstore.Store
}

// newFixture returns a Coordinator whose deadline goroutine never ticks on its own: tests
// drive deadlines with f.expire.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	store := memstore.New(memstore.Options{})
	c := New(Options{Store: store, Now: clk.Now, TickInterval: time.Hour})
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		require.NoError(t, store.Close())
	})
	return &fixture{t: t, c: c, clock: clk, store: store}
}

func (f *fixture) expireAfter(d time.Duration) { f.c.expire(f.clock.Advance(d)) }

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 3
	m.Topics = topics
	return m.AppendTo(nil)
}

type joinOpts struct {
	version    int16
	member     string
	instance   *string
	protoType  string
	protocols  []kmsg.JoinGroupRequestProtocol
	session    time.Duration
	rebalance  time.Duration
	clientHost string
}

func joinReq(group string, o joinOpts) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	if o.version != 0 {
		req.Version = o.version
	}
	req.Group = group
	req.MemberID = o.member
	req.InstanceID = o.instance
	req.ProtocolType = ConsumerProtocolType
	if o.protoType != "" {
		req.ProtocolType = o.protoType
	}
	req.Protocols = o.protocols
	if req.Protocols == nil {
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("a")}}
	}
	req.SessionTimeoutMillis = 10_000
	if o.session != 0 {
		req.SessionTimeoutMillis = int32(o.session / time.Millisecond)
	}
	req.RebalanceTimeoutMillis = 30_000
	if o.rebalance != 0 {
		req.RebalanceTimeoutMillis = int32(o.rebalance / time.Millisecond)
	}
	return req
}

// joinAsync starts a JoinGroup that may block, and returns a channel with its response.
func (f *fixture) joinAsync(group string, o joinOpts) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- f.c.JoinGroup(context.Background(), joinReq(group, o), "client", "/127.0.0.1") }()
	return ch
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "timed out waiting for a blocked call")
		panic("unreachable")
	}
}

// waitState polls until the group reaches the state (a joinAsync goroutine may not have run yet).
func (f *fixture) waitState(group string, s state) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.c.mu.Lock()
		g := f.c.groups[group]
		ok := g != nil && g.state == s
		f.c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	require.FailNowf(f.t, "timeout", "group %q never reached %v", group, s)
}

// joinDynamic joins a new dynamic member at v9 (two JoinGroups, the first getting
// MEMBER_ID_REQUIRED) and returns the channel of the second, which may block.
func (f *fixture) joinDynamic(group string, o joinOpts) <-chan *kmsg.JoinGroupResponse {
	f.t.Helper()
	first := f.c.JoinGroup(context.Background(), joinReq(group, o), "client", "/127.0.0.1")
	require.Equal(f.t, kerr.MemberIDRequired.Code, first.ErrorCode)
	require.NotEmpty(f.t, first.MemberID)
	o.member = first.MemberID
	return f.joinAsync(group, o)
}

func (f *fixture) sync(group, member string, gen int32, assignments map[string][]byte) *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	for m, a := range assignments {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: a})
	}
	return f.c.SyncGroup(context.Background(), req)
}

func (f *fixture) heartbeat(group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, gen
	return f.c.Heartbeat(context.Background(), req).ErrorCode
}

func (f *fixture) leave(group, member string) int16 {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}}
	resp := f.c.LeaveGroup(context.Background(), req)
	require.Zero(f.t, resp.ErrorCode)
	require.Len(f.t, resp.Members, 1)
	return resp.Members[0].ErrorCode
}

// stableStatic builds a Stable group with one static member (instance "i1") and returns its
// member id and generation.
func (f *fixture) stableStatic(group string, o joinOpts) (string, int32) {
	f.t.Helper()
	o.instance = kmsg.StringPtr("i1")
	resp := wait(f.t, f.joinAsync(group, o))
	require.Zero(f.t, resp.ErrorCode)
	require.Equal(f.t, resp.MemberID, resp.LeaderID)
	s := f.sync(group, resp.MemberID, resp.Generation, map[string][]byte{resp.MemberID: []byte("assignment")})
	require.Zero(f.t, s.ErrorCode)
	require.Equal(f.t, []byte("assignment"), s.MemberAssignment)
	return resp.MemberID, resp.Generation
}

func (f *fixture) setState(group string, s state) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	f.c.groups[group].state = s
}

func codeOf(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -999
}

// TestValidateCommit checks ClassicGroup.validateOffsetCommit, rule by rule, as tabulated in
// docs/kafka-semantics.md, section 3.2: the group is built through the coordinator's own APIs
// in each state.
func TestValidateCommit(t *testing.T) {
	type request struct {
		gen      int32 // relative: genCur means the group's generation, genOld one less
		member   string
		instance *string
		op       protocol.GroupOp
	}
	const (
		genCur = 1000
		genOld = 999
		self   = "<member>"
	)
	i1, i9 := kmsg.StringPtr("i1"), kmsg.StringPtr("i9")
	tests := []struct {
		name  string
		state string // "absent", "Empty", "Stable", "CompletingRebalance", "PreparingRebalance", "Dead"
		req   request
		want  error // nil, protocol.ErrNoActiveGroup, or a *kerr.Error
	}{
		{"absent group: the Handler decides", "absent", request{gen: -1}, protocol.ErrNoActiveGroup},
		{"absent group with generation", "absent", request{gen: 5, member: "m"}, protocol.ErrNoActiveGroup},
		{"rule 1: Dead", "Dead", request{gen: -1}, kerr.CoordinatorNotAvailable},
		{"rule 2: Empty, gen -1, member empty", "Empty", request{gen: -1}, nil},
		{"rule 2: Empty, gen -1, any member id", "Empty", request{gen: -1, member: "someone"}, nil},
		{"rule 2: Empty, gen -1, any instance", "Empty", request{gen: -1, instance: i9}, nil},
		{"rule 3: Empty, gen >= 0 is UNKNOWN_MEMBER_ID, not ILLEGAL_GENERATION", "Empty", request{gen: genOld, member: ""}, kerr.UnknownMemberID},
		{"rule 3: Empty, old member and generation", "Empty", request{gen: genOld, member: self}, kerr.UnknownMemberID},
		{"rule 4: Stable, admin commit gen -1 member empty", "Stable", request{gen: -1}, kerr.UnknownMemberID},
		{"rule 6: Stable, member with current generation", "Stable", request{gen: genCur, member: self}, nil},
		{"rule 3d: Stable, stale generation", "Stable", request{gen: genOld, member: self}, kerr.IllegalGeneration},
		{"rule 3d: Stable, member with gen -1", "Stable", request{gen: -1, member: self}, kerr.IllegalGeneration},
		{"rule 3c: Stable, unknown member", "Stable", request{gen: genCur, member: "nobody"}, kerr.UnknownMemberID},
		{"rule 3c: Stable, current generation, member empty", "Stable", request{gen: genCur}, kerr.UnknownMemberID},
		{"rule 3a: Stable, unregistered instance", "Stable", request{gen: genCur, member: self, instance: i9}, kerr.UnknownMemberID},
		{"rule 3b: Stable, instance held by another member id", "Stable", request{gen: genCur, member: "stale-id", instance: i1}, kerr.FencedInstanceID},
		{"rule 3b before 3d: fenced wins over generation", "Stable", request{gen: genOld, member: "stale-id", instance: i1}, kerr.FencedInstanceID},
		{"rule 6: Stable, static member", "Stable", request{gen: genCur, member: self, instance: i1}, nil},
		{"rule 5: CompletingRebalance, current member", "CompletingRebalance", request{gen: genCur, member: self}, kerr.RebalanceInProgress},
		{"rule 3d before 5: CompletingRebalance, stale generation", "CompletingRebalance", request{gen: genOld, member: self}, kerr.IllegalGeneration},
		{"rule 4: CompletingRebalance, admin commit", "CompletingRebalance", request{gen: -1}, kerr.UnknownMemberID},
		{"rule 4 is not for transactions: Stable, gen -1, no member", "Stable", request{gen: -1, op: protocol.OpTxnOffsetCommit}, nil},
		{"rule 3d still applies to transactions", "Stable", request{gen: genOld, member: self, op: protocol.OpTxnOffsetCommit}, kerr.IllegalGeneration},
		{"rule 5 is not for transactions", "CompletingRebalance", request{gen: genCur, member: self, op: protocol.OpTxnOffsetCommit}, nil},
		{"rule 6: PreparingRebalance, member commit accepted", "PreparingRebalance", request{gen: genCur, member: self}, nil},
		{"rule 4: PreparingRebalance, admin commit", "PreparingRebalance", request{gen: -1}, kerr.UnknownMemberID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			member, gen := "", int32(0)
			if tt.state != "absent" {
				member, gen = f.stableStatic("g", joinOpts{})
				switch tt.state {
				case "Empty":
					// The member leaves: the group is Empty with its generation advanced.
					require.Zero(t, f.leave("g", member))
					f.waitState("g", stateEmpty)
					gen++
				case "CompletingRebalance":
					// A second (static) member joins; the first rejoins; nobody syncs yet.
					ch := f.joinAsync("g", joinOpts{instance: kmsg.StringPtr("i2")})
					f.waitState("g", statePreparingRebalance)
					resp := wait(t, f.joinAsync("g", joinOpts{member: member, instance: i1}))
					require.Zero(t, resp.ErrorCode)
					require.Zero(t, wait(t, ch).ErrorCode)
					gen = resp.Generation
					f.waitState("g", stateCompletingRebalance)
				case "PreparingRebalance":
					f.joinAsync("g", joinOpts{instance: kmsg.StringPtr("i2")})
					f.waitState("g", statePreparingRebalance)
				case "Dead":
					f.setState("g", stateDead)
				}
			}
			req := protocol.GroupRequest{Op: tt.req.op, Version: 9, Group: "g", InstanceID: tt.req.instance}
			if req.Op == 0 {
				req.Op = protocol.OpOffsetCommit
			}
			m := tt.req.member
			if m == self {
				m = member
			}
			req.MemberID = &m
			switch tt.req.gen {
			case genCur:
				req.Generation = gen
			case genOld:
				req.Generation = gen - 1
			default:
				req.Generation = tt.req.gen
			}
			_, err := validate(context.Background(), f.c, req)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// TestValidateDelete checks the group part of OffsetDelete (docs/kafka-semantics.md, section 5).
func TestValidateDelete(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fixture)
		wantErr   error
		wantTopic []string
	}{
		{"absent group: the Handler decides", func(*fixture) {}, protocol.ErrNoActiveGroup, nil},
		{"Empty group: nothing subscribed", func(f *fixture) {
			m, _ := f.stableStatic("g", joinOpts{})
			require.Zero(f.t, f.leave("g", m))
		}, nil, nil},
		{"Stable consumer group subscribed to a", func(f *fixture) {
			f.stableStatic("g", joinOpts{})
		}, nil, []string{"a"}},
		{"CompletingRebalance consumer group subscribed to a", func(f *fixture) {
			resp := wait(f.t, f.joinAsync("g", joinOpts{instance: kmsg.StringPtr("i1")}))
			require.Zero(f.t, resp.ErrorCode)
		}, nil, []string{"a"}},
		{"unparseable subscription: subscribed to everything", func(f *fixture) {
			f.stableStatic("g", joinOpts{protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 9}}}})
		}, nil, []string{"a", "b"}},
		{"Stable non-consumer group: NON_EMPTY_GROUP", func(f *fixture) {
			f.stableStatic("g", joinOpts{protoType: "connect"})
		}, kerr.NonEmptyGroup, nil},
		{"Dead group: GROUP_ID_NOT_FOUND", func(f *fixture) {
			f.stableStatic("g", joinOpts{})
			f.setState("g", stateDead)
		}, kerr.GroupIDNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			res, err := validate(context.Background(), f.c, protocol.GroupRequest{
				Op: protocol.OpOffsetDelete, Group: "g", Generation: -1, Topics: []string{"a", "b"},
			})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantTopic, res.Subscribed)
		})
	}
}

func TestValidateFetch(t *testing.T) {
	f := newFixture(t)
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{Op: protocol.OpOffsetFetch, Group: "g", Generation: -1})
	require.ErrorIs(t, err, protocol.ErrNoActiveGroup)
	f.stableStatic("g", joinOpts{})
	// Classic groups ignore the member id and epoch of OffsetFetch.
	_, err = validate(context.Background(), f.c, protocol.GroupRequest{
		Op: protocol.OpOffsetFetch, Group: "g", Generation: 77, MemberID: kmsg.StringPtr("nobody"),
	})
	require.NoError(t, err)
}

func TestJoinValidation(t *testing.T) {
	tests := []struct {
		name string
		req  func() *kmsg.JoinGroupRequest
		want int16
	}{
		{"empty group id", func() *kmsg.JoinGroupRequest { return joinReq("", joinOpts{}) }, kerr.InvalidGroupID.Code},
		{"session timeout too short", func() *kmsg.JoinGroupRequest { return joinReq("g", joinOpts{session: time.Second}) }, kerr.InvalidSessionTimeout.Code},
		{"session timeout too long", func() *kmsg.JoinGroupRequest { return joinReq("g", joinOpts{session: time.Hour}) }, kerr.InvalidSessionTimeout.Code},
		{"no protocols", func() *kmsg.JoinGroupRequest {
			r := joinReq("g", joinOpts{})
			r.Protocols = []kmsg.JoinGroupRequestProtocol{}
			return r
		}, kerr.InconsistentGroupProtocol.Code},
		{"unknown member of an unknown group", func() *kmsg.JoinGroupRequest { return joinReq("g", joinOpts{member: "m"}) }, kerr.UnknownMemberID.Code},
		{"v4+ new member needs a member id", func() *kmsg.JoinGroupRequest { return joinReq("g", joinOpts{version: 4}) }, kerr.MemberIDRequired.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.c.JoinGroup(context.Background(), tt.req(), "client", "/h")
			require.Equal(t, tt.want, resp.ErrorCode, kerr.ErrorForCode(resp.ErrorCode))
			require.Equal(t, int32(-1), resp.Generation)
		})
	}
}

func TestJoinInconsistentProtocol(t *testing.T) {
	f := newFixture(t)
	f.stableStatic("g", joinOpts{})
	resp := f.c.JoinGroup(context.Background(), joinReq("g", joinOpts{version: 3, protoType: "connect"}), "c", "/h")
	require.Equal(t, kerr.InconsistentGroupProtocol.Code, resp.ErrorCode)
	resp = f.c.JoinGroup(context.Background(), joinReq("g", joinOpts{version: 3,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: consumerMeta("a")}}}), "c", "/h")
	require.Equal(t, kerr.InconsistentGroupProtocol.Code, resp.ErrorCode)
}

// TestRebalanceTwoMembers runs a full classic rebalance: a second member joins a Stable
// group, the first learns of it from its heartbeat and rejoins, the leader gets the member
// list, the follower's SyncGroup waits for the leader's assignment.
func TestRebalanceTwoMembers(t *testing.T) {
	f := newFixture(t)
	a := wait(t, f.joinDynamic("g", joinOpts{}))
	require.Zero(t, a.ErrorCode)
	require.Equal(t, int32(1), a.Generation)
	require.Equal(t, a.MemberID, a.LeaderID)
	require.Len(t, a.Members, 1)
	require.Equal(t, "consumer", *a.ProtocolType)
	require.Equal(t, "range", *a.Protocol)
	require.Zero(t, f.sync("g", a.MemberID, 1, map[string][]byte{a.MemberID: []byte("A1")}).ErrorCode)
	require.Zero(t, f.heartbeat("g", a.MemberID, 1))

	bch := f.joinDynamic("g", joinOpts{})
	f.waitState("g", statePreparingRebalance)
	require.Equal(t, kerr.RebalanceInProgress.Code, f.heartbeat("g", a.MemberID, 1))
	// A member commit during PreparingRebalance is accepted.
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{
		Op: protocol.OpOffsetCommit, Group: "g", Generation: 1, MemberID: &a.MemberID,
	})
	require.NoError(t, err)

	a2 := wait(t, f.joinAsync("g", joinOpts{member: a.MemberID}))
	b := wait(t, bch)
	require.Zero(t, a2.ErrorCode)
	require.Zero(t, b.ErrorCode)
	require.Equal(t, int32(2), a2.Generation)
	require.Equal(t, int32(2), b.Generation)
	require.Equal(t, a.MemberID, a2.LeaderID, "the leader stays the leader")
	require.Len(t, a2.Members, 2)
	require.Empty(t, b.Members, "followers get no member list")

	// The follower syncs first and waits for the leader.
	bsync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { bsync <- f.sync("g", b.MemberID, 2, nil) }()
	require.Equal(t, kerr.IllegalGeneration.Code, f.sync("g", a.MemberID, 1, nil).ErrorCode)
	require.Equal(t, kerr.UnknownMemberID.Code, f.sync("g", "nobody", 2, nil).ErrorCode)
	as := f.sync("g", a.MemberID, 2, map[string][]byte{a.MemberID: []byte("A2"), b.MemberID: []byte("B2")})
	require.Zero(t, as.ErrorCode)
	require.Equal(t, []byte("A2"), as.MemberAssignment)
	bs := wait(t, bsync)
	require.Zero(t, bs.ErrorCode)
	require.Equal(t, []byte("B2"), bs.MemberAssignment)

	// Describe shows both members with their assignments.
	d := f.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}})
	require.Len(t, d.Groups, 1)
	require.Equal(t, "Stable", d.Groups[0].State)
	require.Equal(t, "range", d.Groups[0].Protocol)
	require.Len(t, d.Groups[0].Members, 2)

	// A leaves: B alone after the next rebalance, and B becomes leader.
	require.Zero(t, f.leave("g", a.MemberID))
	f.waitState("g", statePreparingRebalance)
	b3 := wait(t, f.joinAsync("g", joinOpts{member: b.MemberID}))
	require.Equal(t, int32(3), b3.Generation)
	require.Equal(t, b.MemberID, b3.LeaderID)
	require.Equal(t, kerr.UnknownMemberID.Code, f.heartbeat("g", a.MemberID, 3))
}

func TestSessionTimeout(t *testing.T) {
	f := newFixture(t)
	m, gen := f.stableStatic("g", joinOpts{session: 10 * time.Second})
	f.expireAfter(9 * time.Second)
	require.Zero(t, f.heartbeat("g", m, gen))
	f.expireAfter(9 * time.Second)
	f.waitState("g", stateStable) // the heartbeat moved the deadline
	f.expireAfter(2 * time.Second)
	f.waitState("g", stateEmpty)
	require.Equal(t, kerr.UnknownMemberID.Code, f.heartbeat("g", m, gen))
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{
		Op: protocol.OpOffsetCommit, Group: "g", Generation: gen, MemberID: &m,
	})
	require.ErrorIs(t, err, kerr.UnknownMemberID)
}

func TestRebalanceTimeoutDropsMembersThatDidNotRejoin(t *testing.T) {
	f := newFixture(t)
	a, _ := f.stableStatic("g", joinOpts{rebalance: 20 * time.Second})
	bch := f.joinAsync("g", joinOpts{version: 3, rebalance: 20 * time.Second})
	f.waitState("g", statePreparingRebalance)
	f.expireAfter(5 * time.Second)
	require.Equal(t, kerr.RebalanceInProgress.Code, f.heartbeat("g", a, 1))
	f.expireAfter(16 * time.Second)
	b := wait(t, bch)
	require.Zero(t, b.ErrorCode)
	require.Equal(t, int32(2), b.Generation)
	require.Equal(t, b.MemberID, b.LeaderID)
	require.Len(t, b.Members, 1)
	require.Equal(t, kerr.UnknownMemberID.Code, f.heartbeat("g", a, 2))
}

func TestSyncTimeoutRemovesMembersThatNeverSync(t *testing.T) {
	f := newFixture(t)
	resp := wait(t, f.joinDynamic("g", joinOpts{rebalance: 20 * time.Second}))
	require.Zero(t, resp.ErrorCode)
	f.waitState("g", stateCompletingRebalance)
	f.expireAfter(21 * time.Second)
	f.waitState("g", stateEmpty)
}

func TestPendingMemberExpires(t *testing.T) {
	f := newFixture(t)
	f.stableStatic("g", joinOpts{})
	first := f.c.JoinGroup(context.Background(), joinReq("g", joinOpts{}), "c", "/h")
	require.Equal(t, kerr.MemberIDRequired.Code, first.ErrorCode)
	// The pending member never comes back; its session passes, and it is forgotten.
	f.expireAfter(11 * time.Second)
	late := f.c.JoinGroup(context.Background(), joinReq("g", joinOpts{member: first.MemberID}), "c", "/h")
	require.Equal(t, kerr.UnknownMemberID.Code, late.ErrorCode)
}

func TestLeaveGroup(t *testing.T) {
	f := newFixture(t)
	m, _ := f.stableStatic("g", joinOpts{})

	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version = 1
	old.Group, old.MemberID = "g", "nobody"
	require.Equal(t, kerr.UnknownMemberID.Code, f.c.LeaveGroup(context.Background(), old).ErrorCode)

	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = "g"
	req.Members = []kmsg.LeaveGroupRequestMember{
		{MemberID: "nobody"},
		{MemberID: "stale", InstanceID: kmsg.StringPtr("i1")},
		{MemberID: m, InstanceID: kmsg.StringPtr("i1")},
	}
	resp := f.c.LeaveGroup(context.Background(), req)
	require.Zero(t, resp.ErrorCode)
	require.Equal(t, []int16{kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code, 0},
		[]int16{resp.Members[0].ErrorCode, resp.Members[1].ErrorCode, resp.Members[2].ErrorCode})
	f.waitState("g", stateEmpty)

	req.Group = "unknown"
	resp = f.c.LeaveGroup(context.Background(), req)
	for _, rm := range resp.Members {
		require.Equal(t, kerr.UnknownMemberID.Code, rm.ErrorCode)
	}
}

func TestStaticRejoinFencesOldMemberID(t *testing.T) {
	f := newFixture(t)
	old, gen := f.stableStatic("g", joinOpts{})
	resp := wait(t, f.joinAsync("g", joinOpts{instance: kmsg.StringPtr("i1")}))
	require.Zero(t, resp.ErrorCode)
	require.NotEqual(t, old, resp.MemberID)
	require.Greater(t, resp.Generation, gen)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", old, resp.Generation, kmsg.StringPtr("i1")
	require.Equal(t, kerr.FencedInstanceID.Code, f.c.Heartbeat(context.Background(), hb).ErrorCode)
}

func TestCloseReleasesBlockedJoin(t *testing.T) {
	f := newFixture(t)
	f.stableStatic("g", joinOpts{})
	ch := f.joinAsync("g", joinOpts{version: 3})
	f.waitState("g", statePreparingRebalance)
	require.NoError(t, f.c.Close())
	require.Equal(t, kerr.CoordinatorNotAvailable.Code, wait(t, ch).ErrorCode)
	require.NoError(t, f.c.Close(), "Close is idempotent")
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "g"})
	require.ErrorIs(t, err, kerr.CoordinatorNotAvailable)
}

func TestSelectProtocolByVotes(t *testing.T) {
	g := &group{members: map[string]*member{}}
	add := func(id string, seq uint64, names ...string) {
		m := &member{id: id, seq: seq}
		for _, n := range names {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: n})
		}
		g.members[id] = m
	}
	add("a", 1, "range", "sticky", "roundrobin")
	add("b", 2, "sticky", "range")
	add("c", 3, "sticky", "range")
	require.Equal(t, "sticky", g.selectProtocol())
	add("d", 4, "range")
	require.Equal(t, "range", g.selectProtocol(), "only range is supported by all")
}

// TestAdminAPIs covers DescribeGroups, ListGroups and DeleteGroups over groups the coordinator
// holds and groups that exist only through committed offsets.
func TestAdminAPIs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tp := offsetstore.TopicPartition{Topic: "a", Partition: 0}
	require.NoError(t, f.store.Commit(ctx, "simple", map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 5, LeaderEpoch: -1}}))
	activeMember, _ := f.stableStatic("active", joinOpts{})

	list := f.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5})
	require.Zero(t, list.ErrorCode)
	got := map[string]kmsg.ListGroupsResponseGroup{}
	for _, g := range list.Groups {
		got[g.Group] = g
	}
	require.Len(t, got, 2)
	require.Equal(t, "Empty", got["simple"].GroupState)
	require.Equal(t, "", got["simple"].ProtocolType)
	require.Equal(t, "Stable", got["active"].GroupState)
	require.Equal(t, "consumer", got["active"].ProtocolType)
	require.Equal(t, "classic", got["active"].GroupType)

	filtered := f.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5, StatesFilter: []string{"stable"}})
	require.Len(t, filtered.Groups, 1)
	require.Equal(t, "active", filtered.Groups[0].Group)
	require.Empty(t, f.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}).Groups)

	d := f.c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"simple", "missing"}})
	require.Equal(t, "Empty", d.Groups[0].State)
	require.Zero(t, d.Groups[0].ErrorCode)
	require.Equal(t, "Dead", d.Groups[1].State)
	require.Zero(t, d.Groups[1].ErrorCode)
	d6 := f.c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"missing"}})
	require.Equal(t, kerr.GroupIDNotFound.Code, d6.Groups[0].ErrorCode)

	del := f.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"active", "simple", "missing", ""}})
	codes := []int16{}
	for _, g := range del.Groups {
		codes = append(codes, g.ErrorCode)
	}
	require.Equal(t, []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code, kerr.InvalidGroupID.Code}, codes)
	all, err := f.store.FetchAll(ctx, "simple")
	require.NoError(t, err)
	require.Empty(t, all)

	// An Empty group the coordinator holds is deleted even with no offsets.
	_, err = validate(ctx, f.c, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "active", Generation: -1})
	require.ErrorIs(t, err, kerr.UnknownMemberID)
	require.Zero(t, f.leave("active", activeMember))
	f.waitState("active", stateEmpty)
	del = f.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"active"}})
	require.Zero(t, del.Groups[0].ErrorCode)
	_, err = validate(ctx, f.c, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "active", Generation: -1})
	require.ErrorIs(t, err, protocol.ErrNoActiveGroup)
}

// TestEmptyGroupsAreForgotten: a group without members or pending joins is dropped after the
// retention, and then reads as a group that exists only through its offsets.
func TestEmptyGroupsAreForgotten(t *testing.T) {
	f := newFixture(t)
	m, gen := f.stableStatic("g", joinOpts{})
	require.Zero(t, f.leave("g", m))
	f.waitState("g", stateEmpty)
	first := f.c.JoinGroup(context.Background(), joinReq("abandoned", joinOpts{}), "c", "/h")
	require.Equal(t, kerr.MemberIDRequired.Code, first.ErrorCode)

	f.expireAfter(9 * time.Minute)
	commit := protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "g", Generation: gen + 1, MemberID: &m}
	_, err := validate(context.Background(), f.c, commit)
	require.ErrorIs(t, err, kerr.UnknownMemberID, "still held: Empty group rules")
	f.expireAfter(2 * time.Minute)
	_, err = validate(context.Background(), f.c, commit)
	require.ErrorIs(t, err, protocol.ErrNoActiveGroup, "forgotten: the Handler decides from the store")
	f.expireAfter(11 * time.Minute) // the abandoned group's pending member expired at the first tick
	f.c.mu.Lock()
	n := len(f.c.groups)
	f.c.mu.Unlock()
	require.Zero(t, n)
}

// validate asks c about req and, as a protocol Handler does, reports right away that the
// acceptance wrote nothing.
func validate(ctx context.Context, c *Coordinator, req protocol.GroupRequest) (protocol.GroupResult, error) {
	res, err := c.ValidateGroup(ctx, req)
	if res.Done != nil {
		res.Done(nil)
	}
	return res, err
}
