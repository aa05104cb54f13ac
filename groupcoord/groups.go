// Package groupcoord is a classic (JoinGroup/SyncGroup) group coordinator: it keeps members,
// generations and assignments in memory, serves the classic group APIs, and implements
// protocol.GroupValidator so that OffsetCommit and OffsetDelete are checked against live
// membership exactly as Apache Kafka checks them (ClassicGroup.validateOffsetCommit and the
// group part of OffsetDelete; docs/kafka-semantics.md, sections 3.2 and 5), and
// retention.GroupActivity so that offsets expire by Kafka's rules (KIP-211).
//
// Offsets are not kept here: the coordinator only consults the offset store to list, describe
// and delete groups that exist because they have committed offsets (Kafka's "simple" groups).
//
// # Writes that cannot lose a race
//
// Kafka checks an offset commit against its group and appends it in one step. A coordinator
// in front of a store checks in one step and the store writes in another, so every acceptance
// it gives carries what keeps the two together:
//
//   - Over a store that implements offsetstore.Fencer, the group's fence epoch: the store
//     applies the write only while the epoch is unchanged, and the coordinator moves it on
//     every change the acceptance depended on (a new generation, a group that became Stable or
//     Empty or was deleted, a write that failed and may still land, and once per group after
//     the coordinator starts). A write delayed anywhere is then refused, and the protocol
//     Handler answers as if the request had arrived after the change.
//   - Always, a Done through which the Handler reports the end of the write. Over a store
//     without fences the coordinator serializes instead: a join phase does not complete while
//     a write accepted under the old generation is still in the store call. That is safe only
//     with a store whose calls, once returned, never apply later (memstore is one).
//
// A group's writes also reach the store in the order they were accepted, as Kafka appends a
// group's records in the order it accepts them: an acceptance waits (within the request's
// context) while a write accepted under the same fence is still in the store. A client that
// gave up on a commit and sent a newer one therefore never sees the older one land after
// the newer was acknowledged. Concurrent commits of one group are serialized; commits of
// different groups are not.
//
// Whoever calls ValidateGroup or GroupActivity directly must call the Done of the acceptance
// it gets, exactly once, when its write is over (or at once, when it writes nothing): until
// then the group's next acceptances wait.
//
// # Durable group state
//
// Over a fencing store the coordinator saves, with each fence move, what Kafka persists in
// group metadata records and what retention depends on: protocol type, generation, whether the
// group is Empty and since when, and the topics its generation subscribed to. Load restores
// those groups after a restart, so an Empty group's offsets expire as they would have without
// the restart. Members are not persisted: after a restart every member rejoins (Kafka reloads
// them), and a group that had members counts as Empty from the restart on.
//
// Deviations from Kafka, chosen to keep the coordinator small and documented here:
//   - There is no initial rebalance delay (Kafka's group.initial.rebalance.delay.ms is 3 s by
//     default): a rebalance completes as soon as every known member has joined.
//   - A static member that rejoins with a known group.instance.id always triggers a rebalance;
//     Kafka skips it when the member's protocols did not change.
//   - Members are not persisted (see above); over a store without fences nothing is, and
//     after a restart a group exists only through its offsets, which retention then treats as
//     a simple group's.
package groupcoord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerProtocolType is the protocol type of Kafka consumer groups. Only groups of this type
// have subscriptions that OffsetDelete checks (GROUP_SUBSCRIBED_TO_TOPIC).
const ConsumerProtocolType = "consumer"

// Options configures a Coordinator. The zero value works.
type Options struct {
	// Store lets ListGroups, DescribeGroups and DeleteGroups see groups that exist only through
	// their committed offsets. Nil means no such groups.
	Store offsetstore.Store
	// Logger receives membership events at debug level. Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// TickInterval is how often session, join and sync deadlines are checked. Zero means 100ms.
	TickInterval time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a JoinGroup's session timeout
	// (INVALID_SESSION_TIMEOUT outside). Zero means Kafka's defaults, 6 s and 30 min.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// EmptyGroupRetention is how long the coordinator keeps a group that has no members, no
	// pending joins and no offsets in Store before it forgets it (Kafka likewise drops such
	// a group in its periodic cleanup). An Empty group that has offsets is kept, its store
	// checked again every EmptyGroupRetention, so that offset retention measures its
	// offsets from the time it became Empty; OffsetsExpired forgets it once the retention
	// sweeper has removed its last offset. Zero means 10 minutes.
	EmptyGroupRetention time.Duration
}

// Coordinator is an in-memory classic group coordinator. It is safe for concurrent use; Close
// stops its deadline goroutine and releases every blocked JoinGroup and SyncGroup.
type Coordinator struct {
	store  offsetstore.Store
	fencer offsetstore.Fencer // store's fences, nil without them
	log    *slog.Logger
	now    func() time.Time
	minSes time.Duration
	maxSes time.Duration
	keep   time.Duration

	mu     sync.Mutex
	groups map[string]*group
	fences map[string]*gfence // by group id; see fence.go
	closed bool

	// waiting, set by tests before use, is told (c.mu held) when an acceptance starts waiting
	// for a write accepted before it to end.
	waiting func(group string)

	ctx    context.Context // cancelled by Close, to abandon store lookups of the deadline goroutine
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s state) String() string { return stateNames[s] }

type group struct {
	id           string
	state        state
	protocolType string // "" until the first member joins
	protocol     string // the selected protocol, "" when none
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED -> deadline
	pendingSync  map[string]bool      // members that have not sent SyncGroup this generation
	deadline     time.Time            // end of the join phase, or of the sync phase
	emptySince   time.Time            // when the group last became Empty
	stateSince   time.Time            // when the group entered its current state
	// subscribed is the set of topics the current generation's members subscribe to, fixed
	// when the generation starts (ClassicGroup.computeSubscribedTopics); nil when unknown (a
	// group of another protocol type, one whose first generation has not started, or
	// subscriptions that do not parse), which counts as subscribed to every topic.
	subscribed map[string]bool
	// offsetsChecked is when an idle Empty group was last found to have offsets in the store.
	offsetsChecked time.Time
	seq            uint64 // join order of members, for the leader choice
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	heartbeatDue     time.Time
	seq              uint64
	joinVersion      int16
	joinWaiter       chan *kmsg.JoinGroupResponse
	syncWaiter       chan *kmsg.SyncGroupResponse
}

// New returns a Coordinator and starts its deadline goroutine; Close stops it.
func New(opts Options) *Coordinator {
	c := &Coordinator{
		store:  opts.Store,
		log:    opts.Logger,
		now:    opts.Now,
		minSes: opts.MinSessionTimeout,
		maxSes: opts.MaxSessionTimeout,
		keep:   opts.EmptyGroupRetention,
		groups: make(map[string]*group),
		fences: make(map[string]*gfence),
		done:   make(chan struct{}),
	}
	c.fencer, _ = opts.Store.(offsetstore.Fencer)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.minSes == 0 {
		c.minSes = 6 * time.Second
	}
	if c.maxSes == 0 {
		c.maxSes = 30 * time.Minute
	}
	if c.keep <= 0 {
		c.keep = 10 * time.Minute
	}
	tick := opts.TickInterval
	if tick <= 0 {
		tick = 100 * time.Millisecond
	}
	c.wg.Add(1)
	go c.run(tick)
	return c
}

func (c *Coordinator) run(tick time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.expire(c.now())
		}
	}
}

// Close stops the deadline goroutine and answers every blocked JoinGroup and SyncGroup with
// COORDINATOR_NOT_AVAILABLE. It is idempotent. It does not close the store.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			c.failWaiters(m, kerr.CoordinatorNotAvailable.Code)
		}
	}
	c.groups = make(map[string]*group)
	c.mu.Unlock()
	c.cancel()
	close(c.done)
	c.wg.Wait()
	return nil
}

// ValidateGroup implements protocol.GroupValidator with Kafka's classic-group rules
// (docs/kafka-semantics.md: section 3.2 for commits, 4.1 for fetches, 5 for deletes). A group
// the coordinator does not hold gives protocol.ErrNoActiveGroup, so the protocol Handler
// applies the rules for a missing or offsets-only ("simple") group itself.
//
// An acceptance of a commit or a delete carries the group's fence over a store that
// implements offsetstore.Fencer, and a Done through which the coordinator tracks the write
// (see the package documentation). Before the first acceptance for a group, and after a
// change of the group, it waits (within ctx) for the fence to move; an acceptance also waits
// for the group's previous write under the same fence to end, so that a group's writes reach
// the store in the order they were accepted.
func (c *Coordinator) ValidateGroup(ctx context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.closed {
			return protocol.GroupResult{}, kerr.CoordinatorNotAvailable
		}
		f, err := c.readyLocked(ctx, req.Group)
		if err != nil {
			return protocol.GroupResult{}, err
		}
		res, err := c.validateLocked(req)
		if (err != nil && !errors.Is(err, protocol.ErrNoActiveGroup)) || req.Op == protocol.OpOffsetFetch {
			return res, err // a refusal, or a fetch, writes nothing
		}
		if ok, werr := c.orderLocked(ctx, req.Group, f); werr != nil {
			return protocol.GroupResult{}, werr
		} else if !ok {
			continue
		}
		res.Fenced, res.Fence, res.Done = c.accept(req.Group, f)
		return res, err
	}
}

// validateLocked is ValidateGroup's verdict on req, without its fence. c.mu is held.
func (c *Coordinator) validateLocked(req protocol.GroupRequest) (protocol.GroupResult, error) {
	g, ok := c.groups[req.Group]
	switch {
	case !ok:
		return protocol.GroupResult{}, protocol.ErrNoActiveGroup
	case req.Op == protocol.OpOffsetFetch:
		// Classic groups ignore the member id and epoch of OffsetFetch v9+, and a Dead group
		// reads as having no offsets beyond what the store holds. A fetch writes nothing.
		return protocol.GroupResult{}, nil
	case req.Op == protocol.OpOffsetDelete:
		return c.validateDelete(g, req)
	default:
		return protocol.GroupResult{}, c.validateCommit(g, req)
	}
}

// validateCommit is ClassicGroup.validateOffsetCommit, rule by rule.
func (c *Coordinator) validateCommit(g *group, req protocol.GroupRequest) error {
	member := ""
	if req.MemberID != nil {
		member = *req.MemberID
	}
	switch {
	case g.state == stateDead: // rule 1
		return kerr.CoordinatorNotAvailable
	case req.Generation < 0 && g.state == stateEmpty: // rule 2
		return nil
	case req.Generation >= 0 || member != "" || req.InstanceID != nil: // rule 3
		if req.InstanceID != nil {
			owner, ok := g.static[*req.InstanceID]
			if !ok { // 3a
				return kerr.UnknownMemberID
			}
			if owner != member { // 3b
				return kerr.FencedInstanceID
			}
		}
		m, ok := g.members[member]
		if !ok { // 3c
			return kerr.UnknownMemberID
		}
		if req.Generation != g.generation { // 3d
			return kerr.IllegalGeneration
		}
		if g.state == stateCompletingRebalance && req.Op != protocol.OpTxnOffsetCommit { // rule 5
			return kerr.RebalanceInProgress
		}
		// Rule 6 accepts; a member's commit in Stable or PreparingRebalance also counts as a
		// heartbeat, as Kafka's OffsetMetadataManager reschedules the member's session timeout.
		if g.state == stateStable || g.state == statePreparingRebalance {
			m.heartbeatDue = c.now().Add(m.sessionTimeout)
		}
		return nil
	case req.Op == protocol.OpTxnOffsetCommit:
		// Rule 4 is not applied to transactional commits (ClassicGroup.validateOffsetCommit
		// with isTransactional): a producer commits for a group without being a member.
		return nil
	default: // rule 4: gen < 0, member "", no instance, on a group that is not Empty
		return kerr.UnknownMemberID
	}
}

// validateDelete is the group part of OffsetDelete (ClassicGroup.validateDeleteOffsets and the
// subscribed-topic check; docs/kafka-semantics.md, section 5).
func (c *Coordinator) validateDelete(g *group, req protocol.GroupRequest) (protocol.GroupResult, error) {
	switch g.state {
	case stateDead:
		return protocol.GroupResult{}, kerr.GroupIDNotFound
	case stateEmpty:
		return protocol.GroupResult{}, nil
	}
	if g.protocolType != ConsumerProtocolType {
		return protocol.GroupResult{}, kerr.NonEmptyGroup
	}
	// ClassicGroup.isSubscribedToTopic: the subscriptions fixed when the generation started,
	// every topic when they are unknown.
	var res protocol.GroupResult
	for _, t := range req.Topics {
		if g.subscribed == nil || g.subscribed[t] {
			res.Subscribed = append(res.Subscribed, t)
		}
	}
	return res, nil
}

// computeSubscribed is Kafka's ClassicGroup.computeSubscribedTopics, run when a generation
// starts: for a consumer group, the union of the members' subscriptions in the selected
// protocol's metadata, the empty set for a group without members, and nil (unknown) for
// another protocol type or metadata that does not parse.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != ConsumerProtocolType {
		return nil
	}
	topics := make(map[string]bool)
	if len(g.members) == 0 {
		return topics
	}
	if g.protocol == "" {
		return nil
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
}

func copyProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)}
	}
	return out
}

func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

func strPtr(s string) *string { return &s }

func clonePtr(s *string) *string {
	if s == nil {
		return nil
	}
	return strPtr(*s)
}

func ptrEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sortedMembers returns the group's members in join order.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	return ms
}
