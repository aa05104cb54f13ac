package groupcoord

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests put a write of the protocol Handler (or of the retention sweep) on hold inside
// the store, change the group meanwhile, then let the write go on: an acknowledged offset must
// never be overwritten or deleted by the held write. No sleep decides an outcome: the store
// reports when the write arrived and applies it only when the test says so.

// gate is a memstore that holds the first write a predicate picks until the test releases it.
// With travel set, a held write whose context ends returns the context's error to the caller
// but is still applied on release, like a write still on its way to a remote store.
type gate struct {
	*memstore.Store
	pick    func(op string, offsets []int64) bool
	seen    func(op string, offsets []int64) // when set, told of every write that arrives
	travel  bool
	armed   atomic.Bool
	entered chan struct{} // closed when the held write arrives
	release chan struct{} // closed by the test to let it go on
	landed  chan error    // the held write's own result, once applied
}

func newGate(pick func(op string, offsets []int64) bool) *gate {
	g := &gate{
		Store:   memstore.New(memstore.Options{}),
		pick:    pick,
		entered: make(chan struct{}),
		release: make(chan struct{}),
		landed:  make(chan error, 1),
	}
	g.armed.Store(true)
	return g
}

func (g *gate) pass(ctx context.Context, op string, offsets []int64, apply func(context.Context) error) error {
	if g.seen != nil {
		g.seen(op, offsets)
	}
	if !g.pick(op, offsets) || !g.armed.CompareAndSwap(true, false) {
		return apply(ctx)
	}
	close(g.entered)
	if g.travel {
		select {
		case <-g.release:
		case <-ctx.Done():
			go func() {
				<-g.release
				g.landed <- apply(context.Background())
			}()
			return ctx.Err()
		}
	} else {
		<-g.release
	}
	err := apply(ctx)
	g.landed <- err
	return err
}

func values(m map[offsetstore.TopicPartition]offsetstore.Offset) []int64 {
	var out []int64
	for _, o := range m {
		out = append(out, o.Offset)
	}
	return out
}

// The held write keeps copies of its arguments: the caller may reuse them once it returns.

func (g *gate) Commit(ctx context.Context, group string, m map[offsetstore.TopicPartition]offsetstore.Offset) error {
	m = maps.Clone(m)
	return g.pass(ctx, "commit", values(m), func(ctx context.Context) error { return g.Store.Commit(ctx, group, m) })
}

func (g *gate) CommitSlice(ctx context.Context, group string, tps []offsetstore.TopicPartition, offs []offsetstore.Offset) error {
	tps, offs = slices.Clone(tps), slices.Clone(offs)
	var vs []int64
	for _, o := range offs {
		vs = append(vs, o.Offset)
	}
	return g.pass(ctx, "commit", vs, func(ctx context.Context) error { return g.Store.CommitSlice(ctx, group, tps, offs) })
}

func (g *gate) CommitFenced(ctx context.Context, group string, fence int64, m map[offsetstore.TopicPartition]offsetstore.Offset) error {
	m = maps.Clone(m)
	return g.pass(ctx, "commit", values(m), func(ctx context.Context) error { return g.Store.CommitFenced(ctx, group, fence, m) })
}

func (g *gate) Delete(ctx context.Context, group string, tps []offsetstore.TopicPartition) error {
	tps = slices.Clone(tps)
	return g.pass(ctx, "delete", nil, func(ctx context.Context) error { return g.Store.Delete(ctx, group, tps) })
}

func (g *gate) DeleteFenced(ctx context.Context, group string, fence int64, tps []offsetstore.TopicPartition) error {
	tps = slices.Clone(tps)
	return g.pass(ctx, "delete", nil, func(ctx context.Context) error { return g.Store.DeleteFenced(ctx, group, fence, tps) })
}

type expireFunc = func(offsetstore.TopicPartition, offsetstore.Offset) bool

func (g *gate) ExpireOffsets(ctx context.Context, group string, expired expireFunc) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	var out map[offsetstore.TopicPartition]offsetstore.Offset
	err := g.pass(ctx, "expire", nil, func(ctx context.Context) (err error) {
		out, err = g.Store.ExpireOffsets(ctx, group, expired)
		return err
	})
	return out, err
}

func (g *gate) ExpireOffsetsFenced(ctx context.Context, group string, fence int64, expired expireFunc) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	var out map[offsetstore.TopicPartition]offsetstore.Offset
	err := g.pass(ctx, "expire", nil, func(ctx context.Context) (err error) {
		out, err = g.Store.ExpireOffsetsFenced(ctx, group, fence, expired)
		return err
	})
	return out, err
}

// unfenced hides a gate's fences: the coordinator must serialize instead.
type unfenced struct {
	offsetstore.Store
	offsetstore.Expirer
}

// raceSetup is a coordinator and a protocol Handler over a gate, with or without fences.
type raceSetup struct {
	*fixture
	gate *gate
	h    *protocol.Handler
}

func newRace(t *testing.T, fenced bool, pick func(op string, offsets []int64) bool) *raceSetup {
	t.Helper()
	g := newGate(pick)
	var store offsetstore.Store = g
	if !fenced {
		store = unfenced{g, g}
	}
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	c := New(Options{Store: store, Now: clk.Now, TickInterval: time.Hour})
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		require.NoError(t, g.Close())
	})
	h := protocol.New(store, protocol.Options{Groups: c, Now: clk.Now})
	return &raceSetup{fixture: &fixture{t: t, c: c, clock: clk, store: store}, gate: g, h: h}
}

func (r *raceSetup) commit(ctx context.Context, group, member string, instance *string, gen int32, topic string, offset int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, instance, gen
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
	resp, err := r.h.OffsetCommit(ctx, req)
	require.NoError(r.t, err)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (r *raceSetup) commitAsync(group, member string, instance *string, gen int32, topic string, offset int64) <-chan int16 {
	ch := make(chan int16, 1)
	go func() { ch <- r.commit(context.Background(), group, member, instance, gen, topic, offset) }()
	return ch
}

// stored returns the offset stored for topic/0 of group, or -1.
func (r *raceSetup) stored(group, topic string) int64 {
	m, err := r.gate.Store.Fetch(context.Background(), group, []offsetstore.TopicPartition{{Topic: topic, Partition: 0}})
	require.NoError(r.t, err)
	if o, ok := m[offsetstore.TopicPartition{Topic: topic, Partition: 0}]; ok {
		return o.Offset
	}
	return -1
}

// join joins a static member subscribed to topics and returns the channel of its JoinGroup.
func (r *raceSetup) join(group, instance string, topics ...string) <-chan *kmsg.JoinGroupResponse {
	return r.joinAsync(group, joinOpts{
		instance:  kmsg.StringPtr(instance),
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta(topics...)}},
	})
}

// stable makes the member of resp the leader that syncs the group to Stable.
func (r *raceSetup) stable(group string, resp *kmsg.JoinGroupResponse) {
	r.t.Helper()
	require.Zero(r.t, resp.ErrorCode)
	s := r.sync(group, resp.MemberID, resp.Generation, map[string][]byte{resp.MemberID: nil})
	require.Zero(r.t, s.ErrorCode)
}

func notYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s completed while a write accepted before it was still in the store", what)
	default:
	}
}

// A member's commit accepted in generation 1 is held in the store while the member is removed
// and another member, in generation 2, commits: the newer commit stays.
func TestRaceCommitVersusRebalance(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		t.Run(map[bool]string{true: "fenced", false: "serialized"}[fenced], func(t *testing.T) {
			r := newRace(t, fenced, func(op string, offs []int64) bool { return op == "commit" && len(offs) == 1 && offs[0] == 100 })
			a := wait(t, r.join("g", "i1", "t"))
			r.stable("g", a)
			aDone := r.commitAsync("g", a.MemberID, kmsg.StringPtr("i1"), a.Generation, "t", 100)
			wait(t, r.gate.entered)

			bJoin := r.join("g", "i2", "t")
			r.waitState("g", statePreparingRebalance)
			require.Zero(t, r.leave("g", a.MemberID)) // A is gone: generation 2 has only B
			if fenced {
				b := wait(t, bJoin)
				r.stable("g", b)
				require.Zero(t, r.commit(context.Background(), "g", b.MemberID, kmsg.StringPtr("i2"), b.Generation, "t", 200))
				close(r.gate.release)
				require.Equal(t, kerr.UnknownMemberID.Code, wait(t, aDone), "A's held commit is answered as a commit after the rebalance")
			} else {
				notYet(t, bJoin, "the rebalance")
				close(r.gate.release)
				require.Zero(t, wait(t, aDone))
				b := wait(t, bJoin)
				r.stable("g", b)
				require.Zero(t, r.commit(context.Background(), "g", b.MemberID, kmsg.StringPtr("i2"), b.Generation, "t", 200))
			}
			require.Equal(t, int64(200), r.stored("g", "t"))
		})
	}
}

// An OffsetDelete accepted on an Empty group is held in the store while a member joins,
// subscribes to the topic and commits: the commit stays.
func TestRaceDeleteVersusJoin(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		t.Run(map[bool]string{true: "fenced", false: "serialized"}[fenced], func(t *testing.T) {
			r := newRace(t, fenced, func(op string, _ []int64) bool { return op == "delete" })
			a := wait(t, r.join("g", "i1", "a"))
			r.stable("g", a)
			require.Zero(t, r.commit(context.Background(), "g", a.MemberID, kmsg.StringPtr("i1"), a.Generation, "a", 1))
			require.Zero(t, r.leave("g", a.MemberID))
			r.waitState("g", stateEmpty)

			del := make(chan *kmsg.OffsetDeleteResponse, 1)
			go func() {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "g"
				req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "a", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
				resp, err := r.h.OffsetDelete(context.Background(), req)
				require.NoError(t, err)
				del <- resp
			}()
			wait(t, r.gate.entered)

			bJoin := r.join("g", "i2", "a")
			if fenced {
				b := wait(t, bJoin)
				r.stable("g", b)
				require.Zero(t, r.commit(context.Background(), "g", b.MemberID, kmsg.StringPtr("i2"), b.Generation, "a", 500))
				close(r.gate.release)
				resp := wait(t, del)
				require.Zero(t, resp.ErrorCode)
				require.Equal(t, kerr.GroupSubscribedToTopic.Code, resp.Topics[0].Partitions[0].ErrorCode)
			} else {
				notYet(t, bJoin, "the join")
				close(r.gate.release)
				resp := wait(t, del)
				require.Zero(t, resp.ErrorCode)
				require.Zero(t, resp.Topics[0].Partitions[0].ErrorCode)
				b := wait(t, bJoin)
				r.stable("g", b)
				require.Zero(t, r.commit(context.Background(), "g", b.MemberID, kmsg.StringPtr("i2"), b.Generation, "a", 500))
			}
			require.Equal(t, int64(500), r.stored("g", "a"))
		})
	}
}

// A retention sweep that read an Empty group's state is held in the store while the group
// becomes Stable and subscribed: the subscribed offsets stay.
func TestRaceSweepVersusStable(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		t.Run(map[bool]string{true: "fenced", false: "serialized"}[fenced], func(t *testing.T) {
			r := newRace(t, fenced, func(op string, _ []int64) bool { return op == "expire" })
			a := wait(t, r.join("g", "i1", "a"))
			r.stable("g", a)
			require.Zero(t, r.commit(context.Background(), "g", a.MemberID, kmsg.StringPtr("i1"), a.Generation, "a", 7))
			require.Zero(t, r.leave("g", a.MemberID))
			r.waitState("g", stateEmpty)
			r.clock.Advance(8 * 24 * time.Hour) // past the 7-day retention since the group became Empty

			sw, err := retention.New(r.store, retention.Options{Groups: r.c, Now: r.clock.Now})
			require.NoError(t, err)
			swept := make(chan retention.Stats, 1)
			go func() {
				st, err := sw.Sweep(context.Background())
				require.NoError(t, err)
				swept <- st
			}()
			wait(t, r.gate.entered)

			bJoin := r.join("g", "i2", "a")
			if fenced {
				r.stable("g", wait(t, bJoin))
				close(r.gate.release)
				require.Zero(t, wait(t, swept).Expired)
				require.Equal(t, int64(7), r.stored("g", "a"), "a Stable group's subscribed offset never expires")
			} else {
				notYet(t, bJoin, "the join")
				close(r.gate.release)
				require.Equal(t, 1, wait(t, swept).Expired) // the sweep came first: Kafka would expire it too
				r.stable("g", wait(t, bJoin))
			}
		})
	}
}

// Two commits of one group accepted under the same fence reach the store in the order they
// were accepted: a commit whose client gave up on it while it was held in the store cannot
// land after a newer one that was acknowledged meanwhile. The newer commit waits for the
// held one; when its own context ends first, or the coordinator closes, it is answered
// COORDINATOR_NOT_AVAILABLE and writes nothing.
func TestRaceWritesInAcceptanceOrder(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		for _, kind := range []string{"simple", "member", "gave up", "closed"} {
			t.Run(map[bool]string{true: "fenced", false: "serialized"}[fenced]+"/"+kind, func(t *testing.T) {
				r := newRace(t, fenced, func(op string, offs []int64) bool { return op == "commit" && len(offs) == 1 && offs[0] == 100 })
				arrived := make(chan struct{}) // the newer commit reached the store
				r.gate.seen = func(op string, offs []int64) {
					if op == "commit" && len(offs) == 1 && offs[0] == 200 {
						close(arrived)
					}
				}
				waiting := make(chan struct{}, 1) // the newer commit waits for the held one
				r.c.waiting = func(string) {
					select {
					case waiting <- struct{}{}:
					default:
					}
				}
				group, member, instance, gen := "simple", "", (*string)(nil), int32(-1)
				if kind == "member" {
					a := wait(t, r.join("g", "i1", "t"))
					r.stable("g", a)
					group, member, instance, gen = "g", a.MemberID, kmsg.StringPtr("i1"), a.Generation
				}
				held := r.commitAsync(group, member, instance, gen, "t", 100)
				wait(t, r.gate.entered)

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				newer := make(chan int16, 1)
				go func() { newer <- r.commit(ctx, group, member, instance, gen, "t", 200) }()
				select {
				case <-arrived:
				case <-waiting:
				}
				want := int64(200)
				switch kind {
				case "gave up":
					cancel()
				case "closed":
					require.NoError(t, r.c.Close())
				}
				if kind == "gave up" || kind == "closed" {
					require.Equal(t, kerr.CoordinatorNotAvailable.Code, wait(t, newer))
					want = 100
				}
				close(r.gate.release)
				require.Zero(t, wait(t, held))
				if want == 200 {
					require.Zero(t, wait(t, newer))
				}
				require.Equal(t, want, r.stored(group, "t"))
			})
		}
	}
}

// A commit that timed out in the Handler, still on its way to the store, lands after a newer
// commit was acknowledged: the store refuses it.
func TestRaceLateWrite(t *testing.T) {
	r := newRace(t, true, func(op string, offs []int64) bool { return op == "commit" && len(offs) == 1 && offs[0] == 100 })
	r.gate.travel = true
	ctx, cancel := context.WithCancel(context.Background())
	late := make(chan int16, 1)
	go func() { late <- r.commit(ctx, "simple", "", nil, -1, "t", 100) }()
	wait(t, r.gate.entered)
	cancel() // the client's deadline: the Handler answers, the write travels on
	require.Equal(t, kerr.CoordinatorNotAvailable.Code, wait(t, late))

	require.Zero(t, r.commit(context.Background(), "simple", "", nil, -1, "t", 200))
	close(r.gate.release)
	require.ErrorIs(t, wait(t, r.gate.landed), offsetstore.ErrFenced)
	require.Equal(t, int64(200), r.stored("simple", "t"))
}

// A consumer group that became Empty six days after its commit keeps its offsets for the
// retention period from then on, across a restart of the coordinator (KIP-211).
func TestRetentionAcrossRestart(t *testing.T) {
	r := newRace(t, true, func(string, []int64) bool { return false })
	t0 := r.clock.Now()
	a := wait(t, r.join("g", "i1", "a"))
	r.stable("g", a)
	require.Zero(t, r.commit(context.Background(), "g", a.MemberID, kmsg.StringPtr("i1"), a.Generation, "a", 42))
	r.clock.Advance(6 * 24 * time.Hour)
	require.Zero(t, r.leave("g", a.MemberID))
	r.waitState("g", stateEmpty)
	// The Empty state is saved with the fence; a fetch waits for it.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
	_, err := r.h.OffsetFetch(context.Background(), fetch)
	require.NoError(t, err)
	require.NoError(t, r.c.Close())

	// A new coordinator on the same store: the restart.
	c2 := New(Options{Store: r.store, Now: r.clock.Now, TickInterval: time.Hour})
	t.Cleanup(func() { require.NoError(t, c2.Close()) })
	require.NoError(t, c2.Load(context.Background()))
	sw, err := retention.New(r.store, retention.Options{Groups: c2, Now: r.clock.Now})
	require.NoError(t, err)

	r.clock.now = t0.Add(7*24*time.Hour + time.Hour)
	st, err := sw.Sweep(context.Background())
	require.NoError(t, err)
	require.Zero(t, st.Expired, "expired by commit time after the restart")
	require.Equal(t, int64(42), r.stored("g", "a"))

	r.clock.now = t0.Add(13*24*time.Hour + time.Minute)
	st, err = sw.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, st.Expired, "7 days after the group became Empty")
}
