package protocol_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/protocol"
)

// seedRequests are requests of the served APIs at every version, plus a few others.
func seedRequests() []kmsg.Request {
	var reqs []kmsg.Request
	for v := int16(0); v <= 10; v++ {
		c := commitReq(v, "g", 1, "m", "t", []part{{0, 1, 2, strp("md")}, {-1, 1, -1, nil}})
		c.Topics[0].TopicID = topicID("t")
		f := fetchReq(v, "g", "t", []int32{0, 1})
		if v >= 8 {
			f.Groups[0].Topics[0].TopicID = topicID("t")
			f.Groups = append(f.Groups, fetchReq(v, "all").Groups...)
		}
		reqs = append(reqs, c, f)
		if v <= 6 {
			reqs = append(reqs, txnReq(v, "g", 5, strp("md"), 0, -1, 9))
		}
	}
	reqs = append(reqs, deleteReq("g", "t", []int32{0, 1}), kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest())
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	return append(reqs, av)
}

func FuzzReadRequestHeader(f *testing.F) {
	cid := "fuzz"
	for _, r := range seedRequests() {
		f.Add(frame(r, 1, &cid))
	}
	f.Add(rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff, 2, 0, 3, 'a', 'b', 'c', 5, 1, 'z'))
	f.Add(rawHeader(kmsg.ApiVersions, 99, 1, 0, 0, 0))
	f.Add(rawHeader(kmsg.ControlledShutdown, 0, 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, body, err := protocol.ReadRequestHeader(b)
		if err != nil {
			require.True(t, errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrUnsupported), "unexpected error class: %v", err)
		}
		if len(b) >= 4 && err == nil {
			require.Equal(t, int16(binary.BigEndian.Uint16(b)), hdr.Key)
		}
		if body != nil {
			require.True(t, bytes.HasSuffix(b, body), "body is not a suffix of the frame")
		}
	})
}

func FuzzReadRequest(f *testing.F) {
	cid := "fuzz"
	for _, r := range seedRequests() {
		f.Add(frame(r, 1, &cid))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, req, err := protocol.ReadRequest(b)
		if err != nil {
			require.Nil(t, req, "a request with an error")
			return
		}
		require.Equal(t, hdr.Key, req.Key(), "the request's key")
		require.Equal(t, hdr.Version, req.GetVersion(), "the request's version")
		_ = req.AppendTo(nil)
	})
}

// FuzzHandleBody feeds arbitrary bodies to every served key and version: no panic, and every
// answer decodes at its version and answers each requested partition exactly once.
func FuzzHandleBody(f *testing.F) {
	for _, r := range seedRequests() {
		f.Add(r.Key(), r.GetVersion(), r.AppendTo(nil))
	}
	f.Add(kmsg.OffsetFetch.Int16(), int16(3), []byte{0, 5, 'a'})
	f.Add(kmsg.OffsetCommit.Int16(), int16(8), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	st := newStore(f)
	h := protocol.New(st, protocol.Options{
		TopicIDs:   testIDs,
		Topics:     topicsOf(map[string]int32{"t": 4, "u": 1}),
		Authorizer: deny("READ:TOPIC:u", "DESCRIBE:GROUP:secret"),
		Transactions: protocol.TxnValidatorFunc(func(_ context.Context, req protocol.TxnRequest) error {
			if req.ProducerEpoch < 0 {
				return kerr.ProducerFenced
			}
			return nil
		}),
	})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		out, err := h.HandleBody(ctx, key, version, body)
		if err != nil {
			require.True(t, errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrUnsupported), "unexpected error class: %v", err)
			return
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		require.NoError(t, req.ReadFrom(body))
		resp := kmsg.ResponseForKey(key)
		resp.SetVersion(version)
		require.NoError(t, resp.ReadFrom(out), "the response does not decode")
		switch r := req.(type) {
		case *kmsg.OffsetCommitRequest:
			got := resp.(*kmsg.OffsetCommitResponse)
			require.Len(t, got.Topics, len(r.Topics), "topics answered")
			for i := range r.Topics {
				require.Len(t, got.Topics[i].Partitions, len(r.Topics[i].Partitions), "topic %d: partitions answered", i)
			}
		case *kmsg.TxnOffsetCommitRequest:
			got := resp.(*kmsg.TxnOffsetCommitResponse)
			if len(got.Topics) != len(r.Topics) {
				t.Fatalf("%d topics answered for %d", len(got.Topics), len(r.Topics))
			}
			for i := range r.Topics {
				if len(got.Topics[i].Partitions) != len(r.Topics[i].Partitions) {
					t.Fatalf("topic %d: %d partitions answered for %d", i, len(got.Topics[i].Partitions), len(r.Topics[i].Partitions))
				}
			}
		case *kmsg.OffsetFetchRequest:
			got := resp.(*kmsg.OffsetFetchResponse)
			if version >= 8 {
				require.Len(t, got.Groups, len(r.Groups), "groups answered")
			}
		}
	})
}
