package protocol

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol/internal/respmem"
)

// The memory of one response. The typed entry points use a fresh one for each request, and it
// becomes the caller's with the response. HandleBody, which owns the response only until it is
// encoded (and observed), takes one from a pool and gives it back afterwards, so that a
// steady stream of small requests allocates no response structures at all.

// maxPooledParts is the largest number of partitions whose response memory is recycled.
const maxPooledParts = 256

// maxScratch is the largest HandleBody encoding buffer that is recycled.
const maxScratch = 64 << 10

// maxPooledBatch is the largest commit batch or fetch lookup whose working memory is recycled.
const maxPooledBatch = 64

// maxPooledCounts is the largest error-count slice that is recycled.
const maxPooledCounts = 64

// mems is every pool of a Handler: one per kind of memory it recycles. A Store copies what it
// is given and keeps nothing of a FetchInto's slices (the offsetstore contract), so a batch or
// a lookup is free again once the Store call returns; a response HandleBody built is free
// once it is encoded and observed.
type mems struct {
	fetch   respmem.Pool[fetchMem]
	commit  respmem.Pool[commitMem]
	batches respmem.Pool[commitBatch]
	lookups respmem.Pool[fetchScratch]
	scratch respmem.Pool[[]byte]       // HandleBody's encoding buffers
	counts  respmem.Pool[[]ErrorCount] // the Observer's error counts
}

// commitBatch is the partitions and offsets of one commit, in request order (a partition named
// twice: the later wins, as in the map Store.Commit is given).
type commitBatch struct {
	tps  []offsetstore.TopicPartition
	offs []offsetstore.Offset
	m    map[offsetstore.TopicPartition]offsetstore.Offset // for stores without CommitSlice
}

func (h *Handler) getCommitBatch(n int) *commitBatch {
	b := h.mem.batches.Get()
	if cap(b.tps) < n {
		b.tps, b.offs = make([]offsetstore.TopicPartition, 0, n), make([]offsetstore.Offset, 0, n)
	}
	return b
}

// putCommitBatch recycles b unless it is large. It does not clear b.tps and b.offs (a measured
// cost on every commit): the next request overwrites them, and the pool drops what it holds
// within two garbage collections, so the strings they refer to are kept a bounded while.
func (h *Handler) putCommitBatch(b *commitBatch) {
	if cap(b.tps) > maxPooledBatch {
		return
	}
	clear(b.m)
	b.tps, b.offs = b.tps[:0], b.offs[:0]
	h.mem.batches.Put(b)
}

// fetchScratch is the per-request working memory of an explicit-topics fetch: the partitions
// looked up and the store's answers, index by index.
type fetchScratch struct {
	lookup []offsetstore.TopicPartition
	dst    []offsetstore.Offset
	found  []bool
}

// getFetchScratch returns a recycled fetchScratch with room for n partitions and no lookups.
func (h *Handler) getFetchScratch(n int) *fetchScratch {
	fs := h.mem.lookups.Get()
	if cap(fs.lookup) < n {
		*fs = fetchScratch{
			lookup: make([]offsetstore.TopicPartition, 0, n),
			dst:    make([]offsetstore.Offset, n),
			found:  make([]bool, n),
		}
	}
	return fs
}

// putFetchScratch recycles fs unless it is large, first dropping the strings it refers to.
func (h *Handler) putFetchScratch(fs *fetchScratch) {
	if cap(fs.lookup) > maxPooledBatch {
		return
	}
	clear(fs.lookup[:cap(fs.lookup)])
	clear(fs.dst[:cap(fs.dst)])
	fs.lookup, fs.dst, fs.found = fs.lookup[:0], fs.dst[:cap(fs.dst)], fs.found[:cap(fs.found)]
	h.mem.lookups.Put(fs)
}

// fetchMem is the memory of an OffsetFetch response.
type fetchMem struct {
	resp   kmsg.OffsetFetchResponse
	empty  string // what every partition answered without metadata points to
	groups respmem.Carve[kmsg.OffsetFetchResponseGroup]
	topics respmem.Carve[kmsg.OffsetFetchResponseGroupTopic]
	parts  respmem.Carve[kmsg.OffsetFetchResponseGroupTopicPartition]
	mds    respmem.Carve[string]

	// v0-v7, answered in the v8 form and folded back.
	reqGroup  kmsg.OffsetFetchRequestGroup
	reqTopics respmem.Carve[kmsg.OffsetFetchRequestGroupTopic]
	group     kmsg.OffsetFetchResponseGroup
	otopics   respmem.Carve[kmsg.OffsetFetchResponseTopic]
	oparts    respmem.Carve[kmsg.OffsetFetchResponseTopicPartition]
}

func (h *Handler) getFetchMem() *fetchMem { return h.mem.fetch.Get() }

func (h *Handler) putFetchMem(m *fetchMem) {
	m.resp, m.reqGroup, m.group = kmsg.OffsetFetchResponse{}, kmsg.OffsetFetchRequestGroup{}, kmsg.OffsetFetchResponseGroup{}
	small := m.groups.Release(maxPooledParts)
	small = m.topics.Release(maxPooledParts) && small
	small = m.parts.Release(maxPooledParts) && small
	small = m.mds.Release(maxPooledParts) && small
	small = m.reqTopics.Release(maxPooledParts) && small
	small = m.otopics.Release(maxPooledParts) && small
	small = m.oparts.Release(maxPooledParts) && small
	if small {
		h.mem.fetch.Put(m)
	}
}

// commitMem is the memory of an OffsetCommit response.
type commitMem struct {
	resp   kmsg.OffsetCommitResponse
	topics respmem.Carve[kmsg.OffsetCommitResponseTopic]
	parts  respmem.Carve[kmsg.OffsetCommitResponseTopicPartition]
}

func (h *Handler) getCommitMem() *commitMem { return h.mem.commit.Get() }

func (h *Handler) putCommitMem(m *commitMem) {
	m.resp = kmsg.OffsetCommitResponse{}
	small := m.topics.Release(maxPooledParts)
	small = m.parts.Release(maxPooledParts) && small
	if small {
		h.mem.commit.Put(m)
	}
}
