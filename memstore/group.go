package memstore

import (
	"math"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// group holds the offsets of one group, by topic and then partition: a request names a few
// topics and many partitions of each, so a lookup hashes each topic name once and then only
// partition numbers.
type group struct {
	topics map[string]map[int32]entry
	n      int // offsets stored; a group with none is removed from its shard
}

// entry is a stored offset in compact form: times as Unix milliseconds (the precision a store
// keeps), so that it is smaller than offsetstore.Offset and holds one pointer instead of three.
type entry struct {
	offset   int64
	commitMs int64 // noTime for the zero time
	expireMs int64 // noTime for the zero time
	metadata string
	epoch    int32
}

// noTime stands for the zero time.Time in an entry.
const noTime = math.MinInt64

func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == noTime {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func toEntry(o offsetstore.Offset) entry {
	return entry{offset: o.Offset, commitMs: toMillis(o.CommitTime), expireMs: toMillis(o.ExpireTime), metadata: o.Metadata, epoch: o.LeaderEpoch}
}

// toOffset returns the entry as an Offset, in the form offsetstore.Normalize gives.
func (e *entry) toOffset() offsetstore.Offset {
	return offsetstore.Offset{Offset: e.offset, LeaderEpoch: e.epoch, Metadata: e.metadata,
		CommitTime: fromMillis(e.commitMs), ExpireTime: fromMillis(e.expireMs)}
}

func newGroup() *group { return &group{topics: make(map[string]map[int32]entry)} }

// writer stores offsets into g one after another. Consecutive partitions of one topic (the
// usual batch) look the topic up once.
type writer struct {
	g    *group
	name string
	t    map[int32]entry
}

// set stores o for tp, or only when tp has nothing stored if ifAbsent, and reports whether it
// stored it.
func (w *writer) set(tp offsetstore.TopicPartition, o offsetstore.Offset, ifAbsent bool) bool {
	if w.t == nil || tp.Topic != w.name {
		w.name, w.t = tp.Topic, w.g.topics[tp.Topic]
		if w.t == nil {
			w.t = make(map[int32]entry)
			w.g.topics[tp.Topic] = w.t
		}
	}
	if ifAbsent {
		if _, had := w.t[tp.Partition]; had {
			return false
		}
	}
	n := len(w.t)
	w.t[tp.Partition] = toEntry(o)
	w.g.n += len(w.t) - n
	return true
}

// del removes tp, if stored.
func (g *group) del(tp offsetstore.TopicPartition) {
	t := g.topics[tp.Topic]
	if _, ok := t[tp.Partition]; !ok {
		return
	}
	delete(t, tp.Partition)
	g.n--
	if len(t) == 0 {
		delete(g.topics, tp.Topic)
	}
}

// cursor looks up partitions of g one after another. Consecutive partitions of one topic (the
// usual request) look the topic up once.
type cursor struct {
	g    *group // nil: nothing is stored
	name string
	t    map[int32]entry
	used bool
}

// get returns the entry stored for tp and whether there is one.
func (c *cursor) get(tp offsetstore.TopicPartition) (entry, bool) {
	if c.g == nil {
		return entry{}, false
	}
	if !c.used || tp.Topic != c.name {
		c.name, c.t, c.used = tp.Topic, c.g.topics[tp.Topic], true
	}
	e, ok := c.t[tp.Partition]
	return e, ok
}

// all returns every offset of g (nil: none) in a new map.
func (g *group) all() map[offsetstore.TopicPartition]offsetstore.Offset {
	if g == nil {
		return make(map[offsetstore.TopicPartition]offsetstore.Offset)
	}
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, g.n)
	for topic, t := range g.topics {
		for p, e := range t {
			out[offsetstore.TopicPartition{Topic: topic, Partition: p}] = e.toOffset()
		}
	}
	return out
}
