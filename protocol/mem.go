package protocol

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The memory of one response. The typed entry points use a fresh one for each request, and it
// becomes the caller's with the response. HandleBody, which owns the response only until it is
// encoded (and observed), takes one from a pool and gives it back afterwards, so that a
// steady stream of small requests allocates no response structures at all.

// maxPooledParts is the largest number of partitions whose response memory is recycled.
const maxPooledParts = 256

// carve hands out consecutive, zeroed sub-slices of one buffer.
type carve[T any] struct {
	buf  []T
	used int
}

// reset makes room for n elements in total, reusing the buffer when it is large enough.
func (c *carve[T]) reset(n int) {
	if cap(c.buf) < n {
		c.buf = make([]T, n)
	} else {
		c.buf = c.buf[:n]
		clear(c.buf)
	}
	c.used = 0
}

// take returns the next n elements with capacity n. When reset did not make room for them it
// starts a new buffer; slices handed out before stay valid.
func (c *carve[T]) take(n int) []T {
	if n == 0 {
		return []T{}
	}
	if c.used+n > len(c.buf) {
		c.buf = make([]T, max(n, 2*len(c.buf)))
		c.used = 0
	}
	s := c.buf[c.used : c.used+n : c.used+n]
	c.used += n
	return s
}

// release drops every reference the buffer holds and reports whether it is small enough to
// keep.
func (c *carve[T]) release() bool {
	clear(c.buf)
	c.used = 0
	return cap(c.buf) <= maxPooledParts
}

// fetchMem is the memory of an OffsetFetch response.
type fetchMem struct {
	resp   kmsg.OffsetFetchResponse
	empty  string // what every partition answered without metadata points to
	groups carve[kmsg.OffsetFetchResponseGroup]
	topics carve[kmsg.OffsetFetchResponseGroupTopic]
	parts  carve[kmsg.OffsetFetchResponseGroupTopicPartition]
	mds    carve[string]

	// v0-v7, answered in the v8 form and folded back.
	reqGroup  kmsg.OffsetFetchRequestGroup
	reqTopics carve[kmsg.OffsetFetchRequestGroupTopic]
	group     kmsg.OffsetFetchResponseGroup
	otopics   carve[kmsg.OffsetFetchResponseTopic]
	oparts    carve[kmsg.OffsetFetchResponseTopicPartition]
}

func (h *Handler) getFetchMem() *fetchMem {
	if m, ok := h.fetchMems.Get().(*fetchMem); ok {
		return m
	}
	return new(fetchMem)
}

func (h *Handler) putFetchMem(m *fetchMem) {
	m.resp, m.reqGroup, m.group = kmsg.OffsetFetchResponse{}, kmsg.OffsetFetchRequestGroup{}, kmsg.OffsetFetchResponseGroup{}
	small := m.groups.release()
	small = m.topics.release() && small
	small = m.parts.release() && small
	small = m.mds.release() && small
	small = m.reqTopics.release() && small
	small = m.otopics.release() && small
	small = m.oparts.release() && small
	if small {
		h.fetchMems.Put(m)
	}
}

// commitMem is the memory of an OffsetCommit response.
type commitMem struct {
	resp   kmsg.OffsetCommitResponse
	topics carve[kmsg.OffsetCommitResponseTopic]
	parts  carve[kmsg.OffsetCommitResponseTopicPartition]
}

func (h *Handler) getCommitMem() *commitMem {
	if m, ok := h.commitMems.Get().(*commitMem); ok {
		return m
	}
	return new(commitMem)
}

func (h *Handler) putCommitMem(m *commitMem) {
	m.resp = kmsg.OffsetCommitResponse{}
	small := m.topics.release()
	small = m.parts.release() && small
	if small {
		h.commitMems.Put(m)
	}
}
