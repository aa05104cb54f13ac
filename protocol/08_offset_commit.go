package protocol

// OffsetCommit: v0-v10 (OffsetCommitRequest.json; docs/kafka-semantics.md, sections 1 and 3)
//
// * v1: Generation, MemberID; per-partition commit Timestamp (v1 only)
// * v2: RetentionTimeMillis (v2-v4); Timestamp removed
// * v3: ThrottleMillis in the response
// * v5: RetentionTimeMillis removed (KIP-211)
// * v6: per-partition LeaderEpoch (KIP-320)
// * v7: InstanceID (KIP-345)
// * v8: flexible versions
// * v9: GROUP_ID_NOT_FOUND for a generation to a missing group; KIP-848 member epochs
// * v10: TopicID replaces Topic in the request and the response

import (
	"context"
	"errors"
	"math"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// OffsetCommit answers an OffsetCommit request (v0-v9, and v10 with Options.TopicIDs) the way
// Kafka does (KafkaApis.handleOffsetCommitRequest, then the group coordinator's
// OffsetMetadataManager.commitOffset), checking in this order:
//
//  1. group READ ACL: on refusal every partition gets GROUP_AUTHORIZATION_FAILED;
//  2. v10: topic ids that do not resolve get UNKNOWN_TOPIC_ID;
//  3. per topic: READ ACL (TOPIC_AUTHORIZATION_FAILED), then the topic's and each partition's
//     existence (UNKNOWN_TOPIC_OR_PARTITION); the partitions that pass are forwarded;
//  4. if none is forwarded the response is complete: no group check, no group created;
//  5. the group check (Options.Groups, else Kafka's rules for a group without members): its
//     refusal goes on every forwarded partition;
//  6. per partition, metadata longer than Options.MaxMetadataBytes gets
//     OFFSET_METADATA_TOO_LARGE;
//  7. the rest are stored in one Store.Commit (a partition named twice: the last one wins,
//     each is answered); if it fails, each of them gets the mapped retriable store error.
//
// Every requested partition is answered exactly once, in request order. Null metadata is
// stored as "". The commit time is Options.Now, or a v1 partition's Timestamp when it is not -1;
// a v2-v4 RetentionTimeMillis other than -1 sets the offset's ExpireTime to now plus that
// many milliseconds. Fields that do not exist at the request's version are ignored.
func (h *Handler) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, error) {
	if h.obs == nil {
		return h.offsetCommit(ctx, req, nil, nil)
	}
	start := time.Now()
	var c call
	resp, err := h.offsetCommit(ctx, req, &c, nil)
	h.observe(ctx, kmsg.OffsetCommit.Int16(), versionOf(req), start, resp, &c, err)
	return resp, err
}

// offsetCommit is OffsetCommit building its response in m (a fresh one when m is nil): the
// Kafka checks in order, then the store batch, then the write.
func (h *Handler) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest, c *call, m *commitMem) (*kmsg.OffsetCommitResponse, error) {
	if req == nil {
		return nil, errNilRequest
	}
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	if !h.serves(kmsg.OffsetCommit, req.Version) {
		return nil, unsupported(kmsg.OffsetCommit, req.Version)
	}
	if m == nil {
		m = new(commitMem)
	}
	resp := commitResponse(req, m)

	// 1-4. The request layer's checks; a commit with nothing forwarded touches no group.
	forwarded := h.commitRequestChecks(ctx, req, resp)
	if forwarded == 0 {
		return resp, nil
	}

	// 5. The group.
	greq := commitGroupRequest(req, h.groups != nil)
	res, code := h.commitGroupCode(ctx, greq, c)
	if code != 0 {
		setCommitCodes0(resp, code)
		return resp, nil
	}

	// 6. Per-partition metadata size; the rest form one batch.
	batch := h.commitBatchOf(req, resp, forwarded)
	defer h.putCommitBatch(batch)
	if len(batch.tps) == 0 {
		release(res)
		return resp, nil
	}

	// 7. One write for the whole batch, under the group's fence when the coordinator gave one.
	code, err := h.guarded(res, fencedWrite{
		write: func(fenced bool, fence int64) error { return h.commitBatch(ctx, req.Group, batch, fenced, fence) },
		again: func() (GroupResult, int16) { return h.commitGroupCode(ctx, greq, c) },
	})
	switch {
	case err != nil:
		setCommitCodes0(resp, h.storeErrorCode(ctx, c, kmsg.OffsetCommit, req.Group, err))
	case code != 0:
		// Asked again after the group changed under the write, the coordinator refused the
		// request: every forwarded partition gets its code, as if the request had arrived
		// after the change (group checks come before the metadata size check).
		setForwardedCommitCodes(resp, code)
	}
	return resp, nil
}

// commitResponse shapes the response in m: every requested partition, in request order, code
// NONE, with the topics and partitions of the whole response carved from one buffer each.
func commitResponse(req *kmsg.OffsetCommitRequest, m *commitMem) *kmsg.OffsetCommitResponse {
	resp := &m.resp
	resp.Default()
	resp.Version = req.Version
	m.topics.Reset(len(req.Topics))
	resp.Topics = m.topics.Take(len(req.Topics))
	total := 0
	for i := range req.Topics {
		total += len(req.Topics[i].Partitions)
	}
	m.parts.Reset(total)
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := &resp.Topics[i]
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = m.parts.Take(len(t.Partitions))
		for j := range t.Partitions {
			rt.Partitions[j].Partition = t.Partitions[j].Partition
		}
	}
	return resp
}

// commitRequestChecks makes the request layer's checks, Kafka's KafkaApis order: the group
// READ ACL (on refusal every partition gets GROUP_AUTHORIZATION_FAILED), then per topic its
// id (v10), READ ACL and existence, and each partition's. It returns how many partitions
// passed, those whose code is still 0.
func (h *Handler) commitRequestChecks(ctx context.Context, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse) int {
	if !h.authorized(ctx, kmsg.OffsetCommit, OperationRead, ResourceGroup, req.Group) {
		setCommitCodes(resp, kerr.GroupAuthorizationFailed.Code)
		return 0
	}
	forwarded := 0
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		n, code := h.commitTopicCheck(ctx, kmsg.OffsetCommit, req.Version >= 10, rt.TopicID, &rt.Topic)
		if code != 0 {
			setTopicCodes(rt, code)
			continue
		}
		for j := range rt.Partitions {
			if p := rt.Partitions[j].Partition; p < 0 || p >= n {
				rt.Partitions[j].ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				forwarded++
			}
		}
	}
	return forwarded
}

// commitTopicCheck makes the request layer's checks of one topic of a commit of either kind
// (key): its id when byID (the name resolved into *name), its READ ACL and its existence. It
// returns the topic's partition count, or the code all its partitions get.
func (h *Handler) commitTopicCheck(ctx context.Context, key kmsg.Key, byID bool, id [16]byte, name *string) (int32, int16) {
	if byID {
		ref, ok := h.ids.ResolveTopic(ctx, TopicRef{ID: id})
		if !ok {
			return 0, kerr.UnknownTopicID.Code
		}
		*name = ref.Name
	}
	if !h.authorized(ctx, key, OperationRead, ResourceTopic, *name) {
		return 0, kerr.TopicAuthorizationFailed.Code
	}
	n, ok := h.partitionCount(ctx, *name)
	if !ok {
		return 0, kerr.UnknownTopicOrPartition.Code
	}
	return n, 0
}

// commitGroupRequest is what the GroupValidator is asked about req; member fields only when
// there is a validator to look at them.
func commitGroupRequest(req *kmsg.OffsetCommitRequest, members bool) GroupRequest {
	v := req.Version
	greq := GroupRequest{Op: OpOffsetCommit, Version: v, Group: req.Group, Generation: -1}
	if v >= 1 {
		greq.Generation = req.Generation
	}
	if members {
		memberID := ""
		if v >= 1 {
			memberID = req.MemberID
		}
		greq.MemberID = &memberID
		if v >= 7 {
			greq.InstanceID = req.InstanceID
		}
	}
	return greq
}

// commitBatchOf checks each forwarded partition's metadata size (OFFSET_METADATA_TOO_LARGE)
// and returns the rest as the batch to store: null metadata as "", the commit time from the
// clock (or a v1 Timestamp), a v2-v4 retention as the expire time, the leader epoch from v6.
func (h *Handler) commitBatchOf(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, forwarded int) *commitBatch {
	v := req.Version
	now := h.now()
	var expire time.Time
	if v >= 2 && v <= 4 && req.RetentionTimeMillis != -1 {
		expire = time.UnixMilli(addMillis(now.UnixMilli(), req.RetentionTimeMillis))
	}
	batch := h.getCommitBatch(forwarded)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			p := &req.Topics[i].Partitions[j]
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if h.metadataTooLarge(md) {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offsetstore.Offset{Offset: p.Offset, LeaderEpoch: -1, Metadata: md, CommitTime: now, ExpireTime: expire}
			if v >= 6 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			if v == 1 && p.Timestamp != -1 {
				o.CommitTime = time.UnixMilli(p.Timestamp)
			}
			batch.tps = append(batch.tps, offsetstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			batch.offs = append(batch.offs, o)
		}
	}
	return batch
}

// setForwardedCommitCodes sets code on every partition of resp that the request layer
// forwarded to the group: those with no error yet or with OFFSET_METADATA_TOO_LARGE, which
// only the step after the group checks gives.
func setForwardedCommitCodes(resp *kmsg.OffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		ps := resp.Topics[i].Partitions
		for j := range ps {
			if ps[j].ErrorCode == 0 || ps[j].ErrorCode == kerr.OffsetMetadataTooLarge.Code {
				ps[j].ErrorCode = code
			}
		}
	}
}

// commitBatch stores b in one write: CommitFenced when fenced, else CommitSlice when the store
// has it, else Commit of a map.
func (h *Handler) commitBatch(ctx context.Context, group string, b *commitBatch, fenced bool, fence int64) error {
	if h.slicer != nil && !fenced {
		err := h.slicer.CommitSlice(ctx, group, b.tps, b.offs)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	if b.m == nil {
		b.m = make(map[offsetstore.TopicPartition]offsetstore.Offset, len(b.tps))
	}
	clear(b.m)
	for i, tp := range b.tps {
		b.m[tp] = b.offs[i]
	}
	if fenced {
		return h.fencer.CommitFenced(ctx, group, fence, b.m)
	}
	return h.store.Commit(ctx, group, b.m)
}

// metadataTooLarge reports whether md is longer than the limit in UTF-16 code units, as Java's
// String.length counts the string Kafka decodes from the request's bytes. Every UTF-8 sequence
// is at least as many bytes as it is UTF-16 units, so a string within the limit in bytes is
// within it.
func (h *Handler) metadataTooLarge(md string) bool {
	if h.maxMeta < 0 || len(md) <= h.maxMeta {
		return false
	}
	return javaLength(md) > h.maxMeta
}

// javaLength is the length in UTF-16 code units of the string Java decodes from the UTF-8
// bytes of s: two units for a supplementary character, one for any other, and one U+FFFD for
// each maximal subpart of an ill-formed sequence (the Unicode standard's recommended
// replacement, which Java's decoder follows), so a truncated three-byte sequence counts once.
func javaLength(s string) int {
	units := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			units++
			if r > 0xFFFF {
				units++
			}
			i += size
			continue
		}
		units++ // one replacement character for the maximal subpart at i
		i += maximalSubpart(s[i:])
	}
	return units
}

// maximalSubpart is the length of the longest prefix of s (which does not start with a
// well-formed UTF-8 sequence) that is a prefix of some well-formed sequence, at least 1.
func maximalSubpart(s string) int {
	lo, hi, n := byte(0x80), byte(0xBF), 0 // range of the second byte, continuation bytes
	switch b := s[0]; {
	case b >= 0xC2 && b <= 0xDF:
		n = 2
	case b == 0xE0:
		lo, n = 0xA0, 3
	case b == 0xED:
		hi, n = 0x9F, 3
	case b >= 0xE1 && b <= 0xEF:
		n = 3
	case b == 0xF0:
		lo, n = 0x90, 4
	case b == 0xF4:
		hi, n = 0x8F, 4
	case b >= 0xF1 && b <= 0xF3:
		n = 4
	default:
		return 1
	}
	i := 1
	for ; i < n && i < len(s); i++ {
		c := s[i]
		if i > 1 {
			lo, hi = 0x80, 0xBF
		}
		if c < lo || c > hi {
			break
		}
	}
	return i
}

// addMillis adds b to a, saturating instead of overflowing.
func addMillis(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// setCommitCodes sets code on every partition of resp.
func setCommitCodes(resp *kmsg.OffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		setTopicCodes(&resp.Topics[i], code)
	}
}

// setCommitCodes0 sets code on every partition of resp that has no error yet.
func setCommitCodes0(resp *kmsg.OffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		ps := resp.Topics[i].Partitions
		for j := range ps {
			if ps[j].ErrorCode == 0 {
				ps[j].ErrorCode = code
			}
		}
	}
}

func setTopicCodes(rt *kmsg.OffsetCommitResponseTopic, code int16) {
	for j := range rt.Partitions {
		rt.Partitions[j].ErrorCode = code
	}
}

// handleOffsetCommit is the dispatch table's typed handler for OffsetCommit.
func handleOffsetCommit(h *Handler, ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error) {
	return nilIfErr(h.offsetCommit(ctx, req.(*kmsg.OffsetCommitRequest), c, nil))
}

// bodyOffsetCommit is the dispatch table's body handler for OffsetCommit: the response is built
// in recycled memory.
func bodyOffsetCommit(h *Handler, ctx context.Context, version int16, body []byte, c *call) (kmsg.Response, bodyMem, error) {
	req := kmsg.OffsetCommitRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, bodyMem{}, malformed(kmsg.OffsetCommit, version, err)
	}
	m := bodyMem{commit: h.getCommitMem()}
	resp, err := nilIfErr(h.offsetCommit(ctx, &req, c, m.commit))
	return resp, m, err
}

// countOffsetCommit counts the error codes of an OffsetCommit response.
func countOffsetCommit(resp kmsg.Response, ec *errorCounter) {
	r, _ := resp.(*kmsg.OffsetCommitResponse)
	if r == nil {
		return
	}
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			ec.add(r.Topics[i].Partitions[j].ErrorCode)
		}
	}
}
