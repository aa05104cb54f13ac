package protocol_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// viaFrame sends req through the byte-level path a gateway uses: a request frame encoded by
// kmsg's client-side formatter, ReadRequest, Handle, AppendResponse, and the response frame
// decoded at the request's version as a client would.
func viaFrame(t *testing.T, h *protocol.Handler, req kmsg.Request) kmsg.Response {
	t.Helper()
	cid := "matrix"
	hdr, decoded, err := protocol.ReadRequest(frame(req, 77, &cid))
	require.NoError(t, err)
	resp, err := h.Handle(context.Background(), decoded)
	require.NoError(t, err)
	out := protocol.AppendResponse(nil, hdr, resp)
	require.Equal(t, len(out)-4, int(binary.BigEndian.Uint32(out)), "size prefix")
	require.Equal(t, int32(77), int32(binary.BigEndian.Uint32(out[4:])), "correlation id")
	body := out[8:]
	dec := kmsg.ResponseForKey(req.Key())
	dec.SetVersion(req.GetVersion())
	if dec.IsFlexible() {
		require.Zero(t, body[0], "response header tags")
		body = body[1:]
	}
	require.NoError(t, dec.ReadFrom(body))
	return dec
}

// viaBody sends req through HandleBody and decodes the response body at its version.
func viaBody(t *testing.T, h *protocol.Handler, req kmsg.Request) kmsg.Response {
	t.Helper()
	out, err := h.HandleBody(context.Background(), req.Key(), req.GetVersion(), req.AppendTo(nil))
	require.NoError(t, err)
	dec := kmsg.ResponseForKey(req.Key())
	dec.SetVersion(req.GetVersion())
	require.NoError(t, dec.ReadFrom(out))
	return dec
}

var paths = []struct {
	name string
	send func(*testing.T, *protocol.Handler, kmsg.Request) kmsg.Response
}{{"frame", viaFrame}, {"body", viaBody}}

// TestVersionMatrix encodes, handles and decodes every supported version of every API over
// both byte-level paths, checking what is stored and what a client decodes.
func TestVersionMatrix(t *testing.T) {
	ctx := context.Background()
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			for v := int16(0); v <= 10; v++ {
				t.Run("OffsetCommit/v"+itoa(v), func(t *testing.T) {
					st := newStore(t)
					h := protocol.New(st, protocol.Options{Now: clock, TopicIDs: testIDs})
					req := commitReq(v, "g", -1, "", "t", []part{{0, 100, 5, strp("m")}, {1, 200, 6, nil}})
					req.Topics[0].TopicID = topicID("t")
					req.Topics[0].Partitions[0].Timestamp = 1234
					req.RetentionTimeMillis = 60_000
					resp := path.send(t, h, req).(*kmsg.OffsetCommitResponse)
					require.Equal(t, 1, len(resp.Topics))
					rt := resp.Topics[0]
					if v >= 10 {
						assert.Equal(t, topicID("t"), rt.TopicID, "topic id echoed")
					} else {
						assert.Equal(t, "t", rt.Topic)
					}
					assert.Equal(t, []kmsg.OffsetCommitResponseTopicPartition{{Partition: 0}, {Partition: 1}}, rt.Partitions)

					got := fetchAllOK(ctx, t, st, "g")
					want0 := offsetstore.Offset{Offset: 100, LeaderEpoch: -1, Metadata: "m", CommitTime: fixedNow}
					if v >= 6 {
						want0.LeaderEpoch = 5
					}
					if v == 1 {
						want0.CommitTime = time.UnixMilli(1234).UTC()
					}
					if v >= 2 && v <= 4 {
						want0.ExpireTime = fixedNow.Add(time.Minute)
					}
					want1 := want0
					want1.Offset, want1.Metadata, want1.CommitTime = 200, "", fixedNow
					if v >= 6 {
						want1.LeaderEpoch = 6
					}
					assert.Equal(t, map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: 0}: want0, {Topic: "t", Partition: 1}: want1}, got)
				})
				t.Run("OffsetFetch/v"+itoa(v), func(t *testing.T) {
					st := newStore(t)
					h := protocol.New(st, protocol.Options{Now: clock, TopicIDs: testIDs})
					require.NoError(t, offsetstore.CommitOne(ctx, st, "g", offsetstore.TopicPartition{Topic: "t", Partition: 0},
						offsetstore.Offset{Offset: 7, LeaderEpoch: 3, Metadata: "x", CommitTime: fixedNow}))
					epoch := int32(-1)
					if v >= 5 {
						epoch = 3
					}
					name := "t"
					if v >= 10 {
						name = "7401" // fetchResults names v10 topics by their id's first bytes
					}
					req := fetchReq(v, "g", "t", []int32{0, 1})
					if v >= 8 {
						req.Groups[0].Topics[0].TopicID = topicID("t")
						extra := fetchReq(v, "other", "t", []int32{0})
						extra.Groups[0].Topics[0].TopicID = topicID("t")
						req.Groups = append(req.Groups, extra.Groups...)
					}
					got := fetchResults(path.send(t, h, req).(*kmsg.OffsetFetchResponse))
					assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{
						name + "/0": {Offset: 7, Epoch: epoch, Metadata: "x"},
						name + "/1": missingFetch,
					}, Count: 2}, got[0])
					if v >= 8 {
						require.Equal(t, 2, len(got))
						assert.Equal(t, fetchGroupResult{Partitions: map[string]fetched{name + "/0": missingFetch}, Count: 1}, got[1])
					}
					if v >= 2 {
						all := fetchResults(path.send(t, h, fetchReq(v, "g")).(*kmsg.OffsetFetchResponse))
						assert.Equal(t, []fetchGroupResult{{Partitions: map[string]fetched{name + "/0": {Offset: 7, Epoch: epoch, Metadata: "x"}}, Count: 1}}, all, "fetch all")
					}
				})
			}
			t.Run("OffsetDelete/v0", func(t *testing.T) {
				st := newStore(t)
				h := protocol.New(st, protocol.Options{Now: clock})
				require.NoError(t, st.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: 0}: {Offset: 1}, {Topic: "t", Partition: 1}: {Offset: 2}}))
				resp := path.send(t, h, deleteReq("g", "t", []int32{0})).(*kmsg.OffsetDeleteResponse)
				top, codesGot := deleteCodes(resp)
				assert.Equal(t, int16(0), top)
				assert.Equal(t, codes("t/0", none), codesGot)
				assert.Equal(t, []offsetstore.TopicPartition{{Topic: "t", Partition: 1}}, offsetstore.SortedPartitions(fetchAllOK(ctx, t, st, "g")))
			})
		})
	}
}

// TestUnsupported checks the versions and keys a Handler does not serve: an error matching
// ErrUnsupported from every entry point, and APIVersions advertising exactly what is served.
func TestUnsupported(t *testing.T) {
	ctx := context.Background()
	plain := protocol.New(newStore(t), protocol.Options{})
	withIDs := protocol.New(newStore(t), protocol.Options{TopicIDs: testIDs})

	adv := func(h *protocol.Handler) map[int16][2]int16 {
		m := map[int16][2]int16{}
		for _, k := range h.APIVersions() {
			m[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		return m
	}
	assert.Equal(t, map[int16][2]int16{kmsg.OffsetCommit.Int16(): {0, 9}, kmsg.OffsetFetch.Int16(): {0, 9}, kmsg.OffsetDelete.Int16(): {0, 0}}, adv(plain), "without TopicIDs")
	assert.Equal(t, map[int16][2]int16{kmsg.OffsetCommit.Int16(): {0, 10}, kmsg.OffsetFetch.Int16(): {0, 10}, kmsg.OffsetDelete.Int16(): {0, 0}}, adv(withIDs), "with TopicIDs")

	v10 := commitReq(10, "g", -1, "", "t", []part{{0, 1, -1, nil}})
	fetch10 := fetchReq(10, "g", "t", []int32{0})
	del1 := deleteReq("g", "t", []int32{0})
	del1.Version = 1
	neg := commitReq(-1, "g", -1, "")
	for name, call := range map[string]func() error{
		"commit v10 without TopicIDs": func() error { _, err := plain.OffsetCommit(ctx, v10); return err },
		"fetch v10 without TopicIDs":  func() error { _, err := plain.OffsetFetch(ctx, fetch10); return err },
		"delete v1":                   func() error { _, err := plain.OffsetDelete(ctx, del1); return err },
		"commit v-1":                  func() error { _, err := plain.OffsetCommit(ctx, neg); return err },
		"Handle commit v10":           func() error { _, err := plain.Handle(ctx, v10); return err },
		"Handle Metadata":             func() error { _, err := plain.Handle(ctx, kmsg.NewPtrMetadataRequest()); return err },
		"Handle TxnOffsetCommit":      func() error { _, err := plain.Handle(ctx, kmsg.NewPtrTxnOffsetCommitRequest()); return err },
		"HandleBody commit v10": func() error {
			_, err := plain.HandleBody(ctx, kmsg.OffsetCommit.Int16(), 10, v10.AppendTo(nil))
			return err
		},
		"HandleBody commit v11": func() error { _, err := withIDs.HandleBody(ctx, kmsg.OffsetCommit.Int16(), 11, nil); return err },
		"HandleBody key 3":      func() error { _, err := withIDs.HandleBody(ctx, kmsg.Metadata.Int16(), 0, nil); return err },
		"HandleBody delete v1":  func() error { _, err := withIDs.HandleBody(ctx, kmsg.OffsetDelete.Int16(), 1, nil); return err },
	} {
		assert.ErrorIs(t, call(), protocol.ErrUnsupported, name)
	}
	_, err := plain.HandleBody(ctx, kmsg.OffsetFetch.Int16(), 3, []byte{0, 5, 'a'})
	assert.ErrorIs(t, err, protocol.ErrMalformed, "truncated body")
	for name, call := range map[string]func() error{
		"Handle":       func() error { _, err := plain.Handle(ctx, nil); return err },
		"OffsetCommit": func() error { _, err := plain.OffsetCommit(ctx, nil); return err },
		"OffsetFetch":  func() error { _, err := plain.OffsetFetch(ctx, nil); return err },
		"OffsetDelete": func() error { _, err := plain.OffsetDelete(ctx, nil); return err },
	} {
		assert.ErrorIs(t, call(), protocol.ErrMalformed, "%s(nil)", name)
	}
}

func itoa(v int16) string {
	if v >= 10 {
		return string(rune('0'+v/10)) + string(rune('0'+v%10))
	}
	return string(rune('0' + v))
}
