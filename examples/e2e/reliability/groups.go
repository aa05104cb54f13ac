package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file adds to the soak what fenced writes are for: consumer groups whose members join
// and leave while they commit, and a check that no value older than an acknowledged one is
// ever stored (a stale overwrite), neither at the end nor in between.
//
// Every key (group, topic, partition) hands out its offsets in increasing order, and one writer
// commits it at a time: a raw client its own group's partitions, and a group member only the
// partitions assigned to it, never after their revocation has run (the revocation waits for the
// member's commit in flight). So of two offsets of a key, the smaller one is older, and once an
// offset is acknowledged, a smaller one may no longer be stored: a commit sent earlier either
// landed before it or must never land.

// soakGroupTopic is the topic the soak's consumer-group members commit to.
const soakGroupTopic = "soakgroup"

// soakGroupPartitions is the number of partitions of soakGroupTopic.
const soakGroupPartitions = 6

// keyID names a key of the soak.
type keyID struct {
	group, topic string
	partition    int32
}

func (k keyID) String() string { return fmt.Sprintf("%s/%s/%d", k.group, k.topic, k.partition) }

// keyTrack is what the stale-overwrite check knows of one key.
type keyTrack struct {
	mu     sync.Mutex
	next   int64 // the last offset handed out
	acked  int64 // the newest (highest) acknowledged offset, -1: none
	ackSeq int64 // the acknowledgement order of acked among all acknowledgements of the soak
	// unanswered holds the offsets whose commit the client gave up on without an answer (a
	// transport error): such a commit is still in flight in the gateway while the client goes
	// on, so it is concurrent with every later one.
	unanswered map[int64]bool
}

// tracker holds every key of the soak and the soak-wide acknowledgement order.
type tracker struct {
	keys map[keyID]*keyTrack
	seq  atomic.Int64
}

func newTracker() *tracker { return &tracker{keys: map[keyID]*keyTrack{}} }

// add registers a key; it is called before the soak starts.
func (tr *tracker) add(k keyID) *keyTrack {
	t := &keyTrack{acked: -1}
	tr.keys[k] = t
	return t
}

// nextOffset hands out the key's next offset.
func (t *keyTrack) nextOffset() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	return t.next
}

// ack records that offset was acknowledged.
func (tr *tracker) ack(t *keyTrack, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if offset > t.acked {
		t.acked, t.ackSeq = offset, tr.seq.Add(1)
	}
}

// giveUp records that the client gave up on the commit of offset without an answer.
func (tr *tracker) giveUp(t *keyTrack, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unanswered == nil {
		t.unanswered = map[int64]bool{}
	}
	t.unanswered[offset] = true
}

// wasUnanswered reports whether the client gave up on the commit of offset without an answer.
func (t *keyTrack) wasUnanswered(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unanswered[offset]
}

// newest returns the newest acknowledged offset (-1: none), its acknowledgement order and the
// last offset handed out.
func (t *keyTrack) newest() (acked, seq, sent int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked, t.ackSeq, t.next
}

// readKind classifies a value read for a key.
type readKind int

const (
	readOK         readKind = iota
	readAbsent              // absent after an acknowledgement
	readStale               // older than an acknowledged offset: a stale overwrite
	readUnanswered          // older, but written by a commit the client gave up on unanswered
)

// classify classifies a value read for key k, of track t, whose newest acknowledged offset was
// acked (ack #seq) when the read began, and says why when it is not fine.
func classify(k keyID, t *keyTrack, acked, seq int64, v int64, present bool) (readKind, string) {
	switch {
	case acked < 0 || present && v >= acked:
		return readOK, ""
	case !present:
		return readAbsent, fmt.Sprintf("%s: absent after %d was acknowledged (ack #%d)", k, acked, seq)
	case t.wasUnanswered(v):
		return readUnanswered, fmt.Sprintf("%s: read %d, whose commit got no answer, after %d was acknowledged (ack #%d)", k, v, acked, seq)
	}
	return readStale, fmt.Sprintf("%s: read %d after %d was acknowledged (ack #%d)", k, v, acked, seq)
}

// groupsReport is what the consumer groups of the soak did.
type groupsReport struct {
	Groups, Slots, Partitions int
	Joins, Leaves             int64 // member clients started and closed (the initial ones included)
	Assignments, Revocations  int64 // OnPartitionsAssigned and OnPartitionsRevoked/Lost calls
	MaxGeneration             int32 // highest generation a commit carried
	Commits, Acked            int64 // partition commits attempted and answered NONE
	Refused                   map[string]int64
	Failed                    map[string]int64 // commits that got no response (by error)
	// Read-back of the group keys.
	AtNewest, AtLaterAttempt, NeverAcked, Lost, Stale, Phantom int
	Unanswered                                                 int // older, from a commit that got no answer
	Problems                                                   []string
}

// watchReport is what the fetches made during the soak saw.
type watchReport struct {
	Rounds, Reads, Failed int64
	Stale                 int64 // reads older than an acknowledged offset (absent ones included)
	Examples              []string
	// Unanswered counts reads of an older offset whose commit the client had given up on
	// without an answer, landing after a newer acknowledged one; not counted in Stale.
	Unanswered         int64
	UnansweredExamples []string
}

// groupSoak runs the consumer-group members of a soak.
type groupSoak struct {
	addr    string
	groups  int
	slots   int
	churn   time.Duration
	tr      *tracker
	seed    uint64
	members []*member

	joins, leaves, assignments, revocations, commits, acked atomic.Int64
	maxGen                                                  atomic.Int32

	mu      sync.Mutex
	refused map[string]int64
	failed  map[string]int64
}

// member is one slot of a group: a kgo consumer-group client while it runs.
type member struct {
	group string
	keys  []*keyTrack // by partition

	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	// commitMu is held while a commit is in flight and while partitions are revoked, so a
	// revoked partition is never committed again by this member.
	commitMu sync.Mutex
	ownedMu  sync.Mutex
	owned    map[int32]bool
}

func newGroupSoak(addr string, groups, slots int, churn time.Duration, tr *tracker, seed uint64) *groupSoak {
	s := &groupSoak{addr: addr, groups: groups, slots: slots, churn: churn, tr: tr, seed: seed,
		refused: map[string]int64{}, failed: map[string]int64{}}
	for g := range groups {
		name := fmt.Sprintf("soakgrp-%02d", g)
		var keys []*keyTrack
		for p := range int32(soakGroupPartitions) {
			keys = append(keys, tr.add(keyID{name, soakGroupTopic, p}))
		}
		for range slots {
			s.members = append(s.members, &member{group: name, keys: keys})
		}
	}
	return s
}

// run starts every member, then stops or starts one member every churn interval until ctx is
// done, then stops them all.
func (s *groupSoak) run(ctx context.Context) {
	for _, m := range s.members {
		s.start(ctx, m)
	}
	rng := rand.New(rand.NewPCG(s.seed, 7))
	t := time.NewTicker(s.churn)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
		}
		m := s.members[rng.IntN(len(s.members))]
		if m.cl != nil {
			s.stop(m)
		} else {
			s.start(ctx, m)
		}
	}
	for _, m := range s.members {
		if m.cl != nil {
			s.stop(m)
		}
	}
}

// start creates m's client, which joins its group, and starts its commit loop.
func (s *groupSoak) start(ctx context.Context, m *member) {
	m.owned = map[int32]bool{}
	revoke := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		m.commitMu.Lock() // wait for the commit in flight
		defer m.commitMu.Unlock()
		m.ownedMu.Lock()
		defer m.ownedMu.Unlock()
		for _, p := range lost[soakGroupTopic] {
			delete(m.owned, p)
		}
		s.revocations.Add(1)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.addr),
		kgo.ClientID("soak-"+m.group),
		kgo.ConsumerGroup(m.group),
		kgo.ConsumeTopics(soakGroupTopic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RetryTimeout(10*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.ownedMu.Lock()
			defer m.ownedMu.Unlock()
			for _, p := range a[soakGroupTopic] {
				m.owned[p] = true
			}
			s.assignments.Add(1)
		}),
		kgo.OnPartitionsRevoked(revoke),
		kgo.OnPartitionsLost(revoke),
	)
	if err != nil {
		s.count(s.failed, "creating the client: "+err.Error())
		return
	}
	cl.PauseFetchTopics(soakGroupTopic) // the gateway serves offsets, not records
	mctx, cancel := context.WithCancel(ctx)
	m.cl, m.cancel, m.done = cl, cancel, make(chan struct{})
	s.joins.Add(1)
	go s.commitLoop(mctx, m)
}

// stop ends m's commit loop once its commit in flight is answered, and closes its client,
// which leaves the group.
func (s *groupSoak) stop(m *member) {
	m.cancel()
	<-m.done
	m.cl.Close()
	m.cl = nil
	s.leaves.Add(1)
}

// commitLoop commits the member's partitions, each at its key's next offset, one synchronous
// commit at a time, until ctx is done.
func (s *groupSoak) commitLoop(ctx context.Context, m *member) {
	defer close(m.done)
	for ctx.Err() == nil {
		s.commitOnce(ctx, m)
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

func (s *groupSoak) commitOnce(ctx context.Context, m *member) {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	m.ownedMu.Lock()
	var parts []int32
	for p := range m.owned {
		parts = append(parts, p)
	}
	m.ownedMu.Unlock()
	if len(parts) == 0 {
		return
	}
	slices.Sort(parts)
	offs := map[int32]kgo.EpochOffset{}
	for _, p := range parts {
		offs[p] = kgo.EpochOffset{Epoch: -1, Offset: m.keys[p].nextOffset()}
	}
	s.commits.Add(int64(len(parts)))
	// A member that stops lets its commit in flight finish: what it last committed is answered.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	m.cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{soakGroupTopic: offs},
		func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				s.count(s.failed, commitErrName(err))
				for p, o := range offs {
					s.tr.giveUp(m.keys[p], o.Offset)
				}
				return
			}
			for {
				g := s.maxGen.Load()
				if req.Generation <= g || s.maxGen.CompareAndSwap(g, req.Generation) {
					break
				}
			}
			ids := map[[16]byte]string{} // OffsetCommit v10 answers by topic ID
			for _, t := range req.Topics {
				ids[t.TopicID] = t.Topic
			}
			for _, t := range resp.Topics {
				topic := t.Topic
				if topic == "" {
					topic = ids[t.TopicID]
				}
				for _, p := range t.Partitions {
					o, ok := offs[p.Partition]
					switch {
					case topic != soakGroupTopic || !ok:
						s.count(s.refused, "a partition not committed")
					case p.ErrorCode == 0:
						s.acked.Add(1)
						s.tr.ack(m.keys[p.Partition], o.Offset)
					default:
						s.count(s.refused, codeName(p.ErrorCode))
					}
				}
			}
		})
}

func commitErrName(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, context.Canceled):
		return "canceled (member stopping)"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within 15s"
	}
	return err.Error()
}

func (s *groupSoak) count(m map[string]int64, k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[k]++
}

// report returns the counters; the read-back fields are filled by readBackKeys.
func (s *groupSoak) report() *groupsReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &groupsReport{Groups: s.groups, Slots: s.slots, Partitions: soakGroupPartitions,
		Joins: s.joins.Load(), Leaves: s.leaves.Load(), Assignments: s.assignments.Load(),
		Revocations: s.revocations.Load(), MaxGeneration: s.maxGen.Load(),
		Commits: s.commits.Load(), Acked: s.acked.Load(),
		Refused: maps2(s.refused), Failed: maps2(s.failed)}
}

func maps2(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// groupNames returns the groups of keys with their partitions, by topic, in a stable order.
func groupNames(keys map[keyID]*keyTrack) []keyID {
	var ids []keyID
	for k := range keys {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		return a.partition < b.partition
	})
	return ids
}

// fetchKeys reads, through conn, the offsets of every key of one group (all of the same topic).
func fetchKeys(conn *kafkaConn, keys []keyID) (map[int32]int64, error) {
	return fetchOffsets(conn, keys[0].group, keys[0].topic, len(keys))
}

// byGroup splits sorted keys into runs of one group.
func byGroup(ids []keyID) [][]keyID {
	var out [][]keyID
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && ids[j].group == ids[i].group && ids[j].topic == ids[i].topic {
			j++
		}
		out = append(out, ids[i:j])
		i = j
	}
	return out
}

// watch reads every key through the gateway, round after round, until ctx is done, and
// counts every value older than the newest offset acknowledged before the read began.
func watch(ctx context.Context, addr string, tr *tracker, every time.Duration) *watchReport {
	rep := &watchReport{}
	groups := byGroup(groupNames(tr.keys))
	var conn *kafkaConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for ctx.Err() == nil {
		rep.Rounds++
		for _, keys := range groups {
			if ctx.Err() != nil {
				break
			}
			if conn == nil {
				var err error
				if conn, err = dialKafka(addr, "soak-watch", 10*time.Second); err != nil {
					conn = nil
					rep.Failed++
					continue
				}
			}
			type snap struct{ acked, seq int64 }
			before := make([]snap, len(keys))
			for i, k := range keys {
				before[i].acked, before[i].seq, _ = tr.keys[k].newest()
			}
			got, err := fetchKeys(conn, keys)
			if err != nil {
				rep.Failed++
				var ke *kerr.Error
				if !errors.As(err, &ke) {
					conn.Close()
					conn = nil
				}
				continue
			}
			for i, k := range keys {
				rep.Reads++
				v, ok := got[k.partition]
				switch kind, why := classify(k, tr.keys[k], before[i].acked, before[i].seq, v, ok); kind {
				case readAbsent, readStale:
					rep.Stale++
					if len(rep.Examples) < 20 {
						rep.Examples = append(rep.Examples, why)
					}
				case readUnanswered:
					rep.Unanswered++
					if len(rep.UnansweredExamples) < 20 {
						rep.UnansweredExamples = append(rep.UnansweredExamples, why)
					}
				}
			}
		}
		sleepCtx(ctx, every)
	}
	return rep
}

// readBackGroups classifies the final value of every group key.
func readBackGroups(ctx context.Context, addr string, tr *tracker, rep *groupsReport) error {
	var ids []keyID
	for k := range tr.keys {
		if k.topic == soakGroupTopic {
			ids = append(ids, k)
		}
	}
	r := &readBacker{addr: addr, clientID: "soak-readback-groups", what: "read-back of the groups", deadline: time.Now().Add(60 * time.Second)}
	defer r.Close()
	for _, keys := range byGroup(groupNames(subset(tr.keys, ids))) {
		got, err := r.read(ctx, func(conn *kafkaConn) (map[int32]int64, error) { return fetchKeys(conn, keys) })
		if err != nil {
			return err
		}
		for _, k := range keys {
			acked, seq, sent := tr.keys[k].newest()
			v, ok := got[k.partition]
			kind, why := classify(k, tr.keys[k], acked, seq, v, ok)
			switch {
			case kind == readAbsent:
				rep.Lost++
				rep.Problems = append(rep.Problems, why)
			case kind == readStale:
				rep.Stale++
				rep.Problems = append(rep.Problems, why)
			case kind == readUnanswered:
				rep.Unanswered++
				rep.Problems = append(rep.Problems, why)
			case ok && (v < 1 || v > sent):
				rep.Phantom++
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: read %d, never sent (last sent %d)", k, v, sent))
			case acked >= 0 && v == acked:
				rep.AtNewest++
			case ok:
				rep.AtLaterAttempt++
			default:
				rep.NeverAcked++
			}
		}
	}
	sort.Strings(rep.Problems)
	return nil
}

func subset(all map[keyID]*keyTrack, ids []keyID) map[keyID]*keyTrack {
	out := make(map[keyID]*keyTrack, len(ids))
	for _, k := range ids {
		out[k] = all[k]
	}
	return out
}
