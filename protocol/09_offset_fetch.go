package protocol

// OffsetFetch: v0-v10 (OffsetFetchRequest.json; docs/kafka-semantics.md, sections 1 and 4)
//
// * v2: null Topics means every committed offset of the group; top-level ErrorCode
// * v3: ThrottleMillis in the response
// * v5: per-partition LeaderEpoch in the response
// * v6: flexible versions
// * v7: RequireStable (KIP-447)
// * v8: Groups[] replaces the top-level Group and Topics, each group with its own ErrorCode
// * v9: per-group MemberID and MemberEpoch (KIP-848)
// * v10: TopicID replaces Topic in the request and the response

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// OffsetFetch answers an OffsetFetch request (v0-v9, and v10 with Options.TopicIDs) the way
// Kafka does (KafkaApis.handleOffsetFetchRequest, then OffsetMetadataManager.fetchOffsets and
// fetchAllOffsets). Each group (one for v0-v7, any number for v8+) is
// handled on its own:
//
//  1. group DESCRIBE ACL: on refusal the group gets GROUP_AUTHORIZATION_FAILED;
//  2. explicit topics: v10 topic ids that do not resolve get UNKNOWN_TOPIC_ID, topics the
//     principal may not DESCRIBE get TOPIC_AUTHORIZATION_FAILED, per partition, offset -1;
//     topic existence is not checked (an unknown topic is simply never committed);
//  3. the group check (Options.Groups; coordinator errors for any version, KIP-848 member
//     errors for v9+); a group without coordinator state is never an error;
//  4. one Store.Fetch (or Store.FetchAll for null topics, leaving out topics the principal may
//     not DESCRIBE); a store failure is a retriable group error (Options.ErrorCode,
//     FetchErrorCode by default), never "no offset".
//
// A partition with nothing committed, and every partition of an unknown group, is answered
// {offset -1, leader epoch -1, metadata "", NONE}; metadata is never null. A group error goes
// where the version puts it: per group for v8+, top-level for v2-v7 (with no topics), and on
// every requested partition for v0-v1, which have no group error field. Every requested
// partition is answered exactly once, in request order.
//
// With RequireStable (v7+), over a store that keeps pending transactional offsets
// (offsetstore.PendingCommitter), each requested partition with a pending offset of a
// transaction in progress is answered UNSTABLE_OFFSET_COMMIT with offset -1, which the client
// retries; with null topics, so is each committed partition that has one. The Handler never
// waits for the transaction. Without RequireStable pending offsets are invisible: the last
// committed offset is answered.
func (h *Handler) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) (*kmsg.OffsetFetchResponse, error) {
	if h.obs == nil {
		return h.offsetFetch(ctx, req, nil, nil)
	}
	start := time.Now()
	var c call
	resp, err := h.offsetFetch(ctx, req, &c, nil)
	h.observe(ctx, kmsg.OffsetFetch.Int16(), versionOf(req), start, resp, &c, err)
	return resp, err
}

// offsetFetch is OffsetFetch building its response in m (a fresh one when m is nil). Every
// partition answered without metadata points to m.empty, one shared "": a caller that changes
// a response's metadata in place replaces the pointer instead.
func (h *Handler) offsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest, c *call, m *fetchMem) (*kmsg.OffsetFetchResponse, error) {
	if req == nil {
		return nil, errNilRequest
	}
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	if !h.serves(kmsg.OffsetFetch, req.Version) {
		return nil, unsupported(kmsg.OffsetFetch, req.Version)
	}
	if m == nil {
		m = new(fetchMem)
	}
	resp := &m.resp
	resp.Default()
	resp.Version = req.Version
	if req.Version >= 8 {
		h.fetchGroups(ctx, c, req, m)
	} else {
		foldBack(req, h.fetchOneGroup(ctx, c, req, m), m)
	}
	return resp, nil
}

// fetchGroups answers the groups of a v8+ request, each on its own, into m.resp.
func (h *Handler) fetchGroups(ctx context.Context, c *call, req *kmsg.OffsetFetchRequest, m *fetchMem) {
	nt, np := 0, 0
	for i := range req.Groups {
		g := &req.Groups[i]
		nt += len(g.Topics)
		for j := range g.Topics {
			np += len(g.Topics[j].Partitions)
		}
	}
	m.groups.Reset(len(req.Groups))
	m.topics.Reset(nt)
	m.parts.Reset(np)
	m.resp.Groups = m.groups.Take(len(req.Groups))
	for i := range req.Groups {
		h.fetchGroup(ctx, c, req.Version, req.RequireStable, &req.Groups[i], &m.resp.Groups[i], m)
	}
}

// fetchOneGroup answers the one group of a v0-v7 request in the v8 form, in m.group.
func (h *Handler) fetchOneGroup(ctx context.Context, c *call, req *kmsg.OffsetFetchRequest, m *fetchMem) *kmsg.OffsetFetchResponseGroup {
	v := req.Version
	g := &m.reqGroup
	*g = kmsg.NewOffsetFetchRequestGroup()
	g.Group = req.Group
	np := 0
	if req.Topics != nil || v < 2 { // null topics mean "all" only from v2
		m.reqTopics.Reset(len(req.Topics))
		g.Topics = m.reqTopics.Take(len(req.Topics))
		for i := range req.Topics {
			g.Topics[i].Topic = req.Topics[i].Topic
			g.Topics[i].Partitions = req.Topics[i].Partitions
			np += len(req.Topics[i].Partitions)
		}
	}
	m.topics.Reset(len(req.Topics))
	m.parts.Reset(np)
	h.fetchGroup(ctx, c, v, v >= 7 && req.RequireStable, g, &m.group, m)
	return &m.group
}

// foldBack puts out, the v8-form answer of a v0-v7 request, where the version puts it in
// m.resp: the group error top-level (v2-v7, with no topics) or on every requested partition
// (v0-v1, which have no group error field), else the topics.
func foldBack(req *kmsg.OffsetFetchRequest, out *kmsg.OffsetFetchResponseGroup, m *fetchMem) {
	resp := &m.resp
	switch {
	case out.ErrorCode != 0 && req.Version >= 2:
		resp.ErrorCode = out.ErrorCode
		resp.Topics = []kmsg.OffsetFetchResponseTopic{}
	case out.ErrorCode != 0:
		np := 0
		for i := range req.Topics {
			np += len(req.Topics[i].Partitions)
		}
		m.otopics.Reset(len(req.Topics))
		m.oparts.Reset(np)
		resp.Topics = m.otopics.Take(len(req.Topics))
		for i := range req.Topics {
			t := &req.Topics[i]
			rt := &resp.Topics[i]
			rt.Topic = t.Topic
			rt.Partitions = m.oparts.Take(len(t.Partitions))
			for j, p := range t.Partitions {
				rp := &rt.Partitions[j]
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p, -1, -1, &m.empty, out.ErrorCode
			}
		}
	default:
		foldTopics(out, m)
	}
}

// foldTopics copies out's topics into m.resp's v0-v7 form.
func foldTopics(out *kmsg.OffsetFetchResponseGroup, m *fetchMem) {
	np := 0
	for i := range out.Topics {
		np += len(out.Topics[i].Partitions)
	}
	m.otopics.Reset(len(out.Topics))
	m.oparts.Reset(np)
	m.resp.Topics = m.otopics.Take(len(out.Topics))
	for i := range out.Topics {
		ot := &out.Topics[i]
		rt := &m.resp.Topics[i]
		rt.Topic = ot.Topic
		rt.Partitions = m.oparts.Take(len(ot.Partitions))
		for j := range ot.Partitions {
			op := &ot.Partitions[j]
			rt.Partitions[j] = kmsg.OffsetFetchResponseTopicPartition{
				Partition: op.Partition, Offset: op.Offset, LeaderEpoch: op.LeaderEpoch,
				Metadata: op.Metadata, ErrorCode: op.ErrorCode,
			}
		}
	}
}

// fetchGroup answers one group of an OffsetFetch at version v into out, with the memory of m,
// in Kafka's order: group ACL, explicit topics' ids and ACLs, the group coordinator, pending
// transactional offsets (require_stable), then the store.
func (h *Handler) fetchGroup(ctx context.Context, c *call, v int16, requireStable bool, g *kmsg.OffsetFetchRequestGroup, out *kmsg.OffsetFetchResponseGroup, m *fetchMem) {
	out.Group = g.Group
	if !h.authorized(ctx, kmsg.OffsetFetch, OperationDescribe, ResourceGroup, g.Group) {
		out.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	var fs *fetchScratch
	if g.Topics != nil {
		fs = h.fetchTopics(ctx, v, g, out, m)
		defer h.putFetchScratch(fs)
	}
	greq := GroupRequest{Op: OpOffsetFetch, Version: v, Group: g.Group, Generation: -1}
	if v >= 9 {
		greq.MemberID, greq.Generation = g.MemberID, g.MemberEpoch
	}
	res, code, noActive := h.consult(ctx, greq)
	if !noActive && code != 0 {
		out.ErrorCode, out.Topics = code, nil
		return
	}
	release(res) // a fetch writes nothing
	unstable, err := h.unstable(ctx, g.Group, requireStable)
	switch {
	case err != nil:
		code = h.storeErrorCode(ctx, c, kmsg.OffsetFetch, g.Group, err)
	case g.Topics != nil:
		if len(unstable) > 0 {
			markUnstable(out, unstable, fs)
		}
		code = h.fetchListed(ctx, c, v, g.Group, out, fs, m)
	default:
		code = h.fetchAll(ctx, c, v, g.Group, out, unstable, &m.empty)
	}
	if code != 0 {
		out.ErrorCode, out.Topics = code, nil
	}
}

// fetchTopics answers g's explicit topics with offset -1 into out and returns the partitions
// to look up: v10 topic ids that do not resolve get UNKNOWN_TOPIC_ID and topics the principal
// may not DESCRIBE TOPIC_AUTHORIZATION_FAILED; a topic's existence is not checked.
func (h *Handler) fetchTopics(ctx context.Context, v int16, g *kmsg.OffsetFetchRequestGroup, out *kmsg.OffsetFetchResponseGroup, m *fetchMem) *fetchScratch {
	out.Topics = m.topics.Take(len(g.Topics))
	total := 0
	for i := range g.Topics {
		total += len(g.Topics[i].Partitions)
	}
	fs := h.getFetchScratch(total)
	for i := range g.Topics {
		t := &g.Topics[i]
		rt := &out.Topics[i]
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = m.parts.Take(len(t.Partitions))
		var code int16
		if v >= 10 {
			if ref, ok := h.ids.ResolveTopic(ctx, TopicRef{ID: t.TopicID}); ok {
				rt.Topic = ref.Name
			} else {
				code = kerr.UnknownTopicID.Code
			}
		}
		if code == 0 && !h.authorized(ctx, kmsg.OffsetFetch, OperationDescribe, ResourceTopic, rt.Topic) {
			code = kerr.TopicAuthorizationFailed.Code
		}
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p, -1, -1, &m.empty, code
			if code == 0 && p >= 0 { // no partition is negative: nothing to look up
				fs.lookup = append(fs.lookup, offsetstore.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	return fs
}

// fetchListed looks up fs.lookup in one FetchInto (or Fetch), whose results come back in the
// order they were looked up, the order of out's partitions still at NONE, and fills them in.
// It returns the group error of a store failure, 0 otherwise.
func (h *Handler) fetchListed(ctx context.Context, c *call, v int16, group string, out *kmsg.OffsetFetchResponseGroup, fs *fetchScratch, m *fetchMem) int16 {
	n := len(fs.lookup)
	if n == 0 {
		return 0
	}
	fs.dst, fs.found = fs.dst[:n], fs.found[:n]
	if err := h.fetchInto(ctx, group, fs); err != nil {
		return h.storeErrorCode(ctx, c, kmsg.OffsetFetch, group, err)
	}
	// One allocation holds every non-empty metadata string of the answer.
	withMeta := 0
	for i := range n {
		if fs.found[i] && fs.dst[i].Metadata != "" {
			withMeta++
		}
	}
	mds := m.mds.Take(withMeta)[:0]
	k := 0
	for i := range out.Topics {
		rt := &out.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 || rp.Partition < 0 {
				continue
			}
			if fs.found[k] {
				o := &fs.dst[k]
				rp.Offset = o.Offset
				if v >= 5 {
					rp.LeaderEpoch = o.LeaderEpoch
				}
				if o.Metadata != "" {
					mds = append(mds, o.Metadata)
					rp.Metadata = &mds[len(mds)-1]
				}
			}
			k++
		}
	}
	return 0
}

// fetchAll answers a fetch of every committed offset of group (null topics) into out, in
// topic and partition order, leaving out topics the principal may not DESCRIBE and, for v10,
// topics whose id no longer resolves; a partition in unstable is UNSTABLE_OFFSET_COMMIT. It
// returns the group error of a store failure, 0 otherwise.
func (h *Handler) fetchAll(ctx context.Context, c *call, v int16, group string, out *kmsg.OffsetFetchResponseGroup, unstable map[offsetstore.TopicPartition]struct{}, empty *string) int16 {
	all, err := h.store.FetchAll(ctx, group)
	if err != nil {
		return h.storeErrorCode(ctx, c, kmsg.OffsetFetch, group, err)
	}
	out.Topics = []kmsg.OffsetFetchResponseGroupTopic{}
	skip := ""
	skipping := false
	for _, tp := range offsetstore.SortedPartitions(all) {
		if skipping && tp.Topic == skip {
			continue
		}
		if n := len(out.Topics); n == 0 || out.Topics[n-1].Topic != tp.Topic {
			skipping = false
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = tp.Topic
			ok := h.authorized(ctx, kmsg.OffsetFetch, OperationDescribe, ResourceTopic, tp.Topic)
			if ok && v >= 10 {
				var ref TopicRef
				// A stored topic whose id no longer resolves has been deleted: leave it out.
				ref, ok = h.ids.ResolveTopic(ctx, TopicRef{Name: tp.Topic})
				rt.TopicID = ref.ID
			}
			if !ok {
				skip, skipping = tp.Topic, true
				continue
			}
			out.Topics = append(out.Topics, rt)
		}
		rt := &out.Topics[len(out.Topics)-1]
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = tp.Partition
		if _, ok := unstable[tp]; ok {
			rp.Metadata, rp.ErrorCode = empty, kerr.UnstableOffsetCommit.Code
		} else {
			setFetched(v, &rp, all[tp], empty)
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	return 0
}

// unstable returns the partitions of group with pending transactional offsets when the
// fetch requires stable offsets and the store keeps pending ones, else nil.
func (h *Handler) unstable(ctx context.Context, group string, requireStable bool) (map[offsetstore.TopicPartition]struct{}, error) {
	if !requireStable || h.pending == nil {
		return nil, nil
	}
	tps, err := h.pending.PendingPartitions(ctx, group)
	if err != nil || len(tps) == 0 {
		return nil, err
	}
	out := make(map[offsetstore.TopicPartition]struct{}, len(tps))
	for _, tp := range tps {
		out[tp] = struct{}{}
	}
	return out, nil
}

// markUnstable answers every looked-up partition of out that has a pending transactional
// offset UNSTABLE_OFFSET_COMMIT (offset -1, as already set) and leaves it out of fs.lookup,
// which keeps the order of the partitions still looked up.
func markUnstable(out *kmsg.OffsetFetchResponseGroup, unstable map[offsetstore.TopicPartition]struct{}, fs *fetchScratch) {
	fs.lookup = fs.lookup[:0]
	for i := range out.Topics {
		rt := &out.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 || rp.Partition < 0 {
				continue
			}
			tp := offsetstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if _, ok := unstable[tp]; ok {
				rp.ErrorCode = kerr.UnstableOffsetCommit.Code
				continue
			}
			fs.lookup = append(fs.lookup, tp)
		}
	}
}

// fetchInto looks fs.lookup up into fs.dst and fs.found: FetchInto when the store has it,
// else Fetch.
func (h *Handler) fetchInto(ctx context.Context, group string, fs *fetchScratch) error {
	if h.intoer != nil {
		err := h.intoer.FetchInto(ctx, group, fs.lookup, fs.dst, fs.found)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	m, err := h.store.Fetch(ctx, group, fs.lookup)
	if err != nil {
		return err
	}
	for i, tp := range fs.lookup {
		fs.dst[i], fs.found[i] = m[tp]
	}
	return nil
}

// setFetched fills a response partition at version v from a stored offset. The leader epoch
// exists in responses from v5; before that it stays -1. Empty metadata points to the
// response's shared "" rather than allocating.
func setFetched(v int16, rp *kmsg.OffsetFetchResponseGroupTopicPartition, o offsetstore.Offset, empty *string) {
	rp.Offset, rp.Metadata = o.Offset, empty
	if o.Metadata != "" {
		md := o.Metadata
		rp.Metadata = &md
	}
	if v >= 5 {
		rp.LeaderEpoch = o.LeaderEpoch
	}
}

// handleOffsetFetch is the dispatch table's typed handler for OffsetFetch.
func handleOffsetFetch(h *Handler, ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error) {
	return nilIfErr(h.offsetFetch(ctx, req.(*kmsg.OffsetFetchRequest), c, nil))
}

// bodyOffsetFetch is the dispatch table's body handler for OffsetFetch: the response is built
// in recycled memory.
func bodyOffsetFetch(h *Handler, ctx context.Context, version int16, body []byte, c *call) (kmsg.Response, bodyMem, error) {
	req := kmsg.OffsetFetchRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, bodyMem{}, malformed(kmsg.OffsetFetch, version, err)
	}
	m := bodyMem{fetch: h.getFetchMem()}
	resp, err := nilIfErr(h.offsetFetch(ctx, &req, c, m.fetch))
	return resp, m, err
}

// countOffsetFetch counts the error codes of an OffsetFetch response, top-level, per group
// and per partition.
func countOffsetFetch(resp kmsg.Response, ec *errorCounter) {
	r, _ := resp.(*kmsg.OffsetFetchResponse)
	if r == nil {
		return
	}
	ec.add(r.ErrorCode)
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			ec.add(r.Topics[i].Partitions[j].ErrorCode)
		}
	}
	for i := range r.Groups {
		g := &r.Groups[i]
		ec.add(g.ErrorCode)
		for j := range g.Topics {
			for k := range g.Topics[j].Partitions {
				ec.add(g.Topics[j].Partitions[k].ErrorCode)
			}
		}
	}
}
