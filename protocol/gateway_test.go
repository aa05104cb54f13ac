package protocol_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/protocol"
)

// The helpers a gateway's own connection loop uses besides the Handler: the frame split,
// the ApiVersions fallback, the client side of AppendResponse and the error counter.

func TestReadFrameSizeThenBody(t *testing.T) {
	var in []byte
	in = binary.BigEndian.AppendUint32(in, 5)
	in = append(in, "hello"...)
	in = binary.BigEndian.AppendUint32(in, 2)
	in = append(in, "ok"...)
	r := bytes.NewReader(in)

	n, err := protocol.ReadFrameSize(r, 16)
	require.NoError(t, err)
	require.Equal(t, 5, n, "the size comes before the body is read")
	assert.Equal(t, 4+5+4+2, r.Len()+4, "ReadFrameSize read only the prefix")
	buf := make([]byte, 0, 8)
	body, err := protocol.ReadFrameBody(r, buf, n)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(body))
	assert.Same(t, &buf[:1][0], &body[0], "a buffer large enough is reused")

	n, err = protocol.ReadFrameSize(r, 16)
	require.NoError(t, err)
	body, err = protocol.ReadFrameBody(r, nil, n)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))

	_, err = protocol.ReadFrameSize(r, 16)
	assert.ErrorIs(t, err, io.EOF, "a clean end between frames")

	for name, tc := range map[string]struct {
		in   []byte
		max  int
		want error
	}{
		"over the limit": {[]byte{0, 0, 0, 17}, 16, protocol.ErrMalformed},
		"negative":       {[]byte{0xff, 0xff, 0xff, 0xff}, 16, protocol.ErrMalformed},
		"cut prefix":     {[]byte{0, 0}, 16, io.ErrUnexpectedEOF},
	} {
		_, err := protocol.ReadFrameSize(bytes.NewReader(tc.in), tc.max)
		assert.ErrorIs(t, err, tc.want, name)
	}
	_, err = protocol.ReadFrameBody(bytes.NewReader([]byte("abc")), make([]byte, 0, 64), 5)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "body cut short, buffer large enough")
	_, err = protocol.ReadFrameBody(bytes.NewReader([]byte("abc")), nil, 1<<20)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "body cut short, buffer grown")
	_, err = protocol.ReadFrameBody(bytes.NewReader(nil), nil, -1)
	assert.ErrorIs(t, err, protocol.ErrMalformed, "negative size")
}

// peekReader hands out its data in reads no larger than asked, and records the largest
// buffer it was asked to fill.
type peekReader struct {
	data    []byte
	largest int
}

func (r *peekReader) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadFrameBodyGrowsWithData: a declared size allocates nothing large by itself; the
// buffer follows the bytes that actually arrive.
func TestReadFrameBodyGrowsWithData(t *testing.T) {
	r := &peekReader{data: make([]byte, 100)}
	_, err := protocol.ReadFrameBody(r, nil, 15<<20)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, r.largest, 64<<10, "a 15 MiB size with 100 bytes sent")

	data := bytes.Repeat([]byte{7}, 200_000)
	r = &peekReader{data: data}
	got, err := protocol.ReadFrameBody(r, nil, len(data))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.LessOrEqual(t, r.largest, 128<<10, "growth at most doubles what arrived")
}

// apiVersionsFrame is a request frame of ApiVersions at version v with header v2 (as every
// client sends v3+) and, if body is set, an empty v3 body.
func apiVersionsFrame(v int16, corr int32, body bool) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(kmsg.ApiVersions))
	b = binary.BigEndian.AppendUint16(b, uint16(v))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "cli"...)
	b = append(b, 0) // header tags
	if body {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		b = req.AppendTo(b)
	}
	return b
}

func TestAPIVersionsFallback(t *testing.T) {
	advertised := []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: int16(kmsg.OffsetCommit), MinVersion: 0, MaxVersion: 9},
		{ApiKey: int16(kmsg.ApiVersions), MinVersion: 0, MaxVersion: 3},
	}
	hdr := func(key kmsg.Key, v int16) protocol.RequestHeader {
		return protocol.RequestHeader{Key: int16(key), Version: v, CorrelationID: 7}
	}
	for _, tc := range []struct {
		name       string
		hdr        protocol.RequestHeader
		readErr    error
		advertised []kmsg.ApiVersionsResponseApiKey
		want       bool
	}{
		{"served version", hdr(kmsg.ApiVersions, 3), nil, advertised, false},
		{"newer than the gateway serves, kmsg decodes it", hdr(kmsg.ApiVersions, 4), nil, advertised, true},
		{"newer than kmsg knows", hdr(kmsg.ApiVersions, 99), protocol.ErrUnsupported, advertised, true},
		{"malformed header", hdr(kmsg.ApiVersions, 99), protocol.ErrMalformed, advertised, false},
		{"another key", hdr(kmsg.OffsetCommit, 99), protocol.ErrUnsupported, advertised, false},
		{"gateway without ApiVersions", hdr(kmsg.ApiVersions, 4), nil, advertised[:1], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok := protocol.APIVersionsFallback(tc.hdr, tc.readErr, tc.advertised)
			require.Equal(t, tc.want, ok)
			if !ok {
				assert.Nil(t, resp)
				return
			}
			assert.Equal(t, int16(0), resp.GetVersion(), "answered at v0, which every client reads")
			assert.Equal(t, kerr.UnsupportedVersion.Code, resp.ErrorCode)
			assert.Equal(t, advertised[1:], resp.ApiKeys, "only the ApiVersions range")
		})
	}

	t.Run("over the wire", func(t *testing.T) {
		frame := apiVersionsFrame(99, 42, false)
		hdr, req, err := protocol.ReadRequest(frame)
		require.ErrorIs(t, err, protocol.ErrUnsupported)
		require.Nil(t, req)
		resp, ok := protocol.APIVersionsFallback(hdr, err, advertised)
		require.True(t, ok)
		out := protocol.AppendResponse(nil, hdr, resp)

		client := kmsg.NewPtrApiVersionsRequest()
		client.Version = 99 // what the client asked for; the answer is v0
		corr, got, err := protocol.ReadResponse(out[4:], client)
		require.NoError(t, err)
		assert.Equal(t, int32(42), corr)
		r := got.(*kmsg.ApiVersionsResponse)
		assert.Equal(t, kerr.UnsupportedVersion.Code, r.ErrorCode)
		require.Len(t, r.ApiKeys, 1)
		assert.Equal(t, int16(3), r.ApiKeys[0].MaxVersion)
	})
}

func TestReadResponse(t *testing.T) {
	for _, v := range []int16{1, 7, 8} { // v8 is flexible: a tagged header
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		if v >= 2 && v <= 7 { // the top-level error code exists in v2-v7
			resp.ErrorCode = kerr.NotCoordinator.Code
		}
		if v >= 8 {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = "g", kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, g)
		}
		out := protocol.AppendResponse(nil, protocol.RequestHeader{Key: int16(kmsg.OffsetFetch), Version: v, CorrelationID: 9}, resp)
		corr, got, err := protocol.ReadResponse(out[4:], req)
		require.NoError(t, err, "v%d", v)
		assert.Equal(t, int32(9), corr)
		assert.Equal(t, resp, got, "v%d", v)
	}

	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	_, _, err := protocol.ReadResponse([]byte{0, 0}, req)
	assert.ErrorIs(t, err, protocol.ErrMalformed, "no correlation id")
	_, _, err = protocol.ReadResponse([]byte{0, 0, 0, 1, 0, 0, 0}, req)
	assert.ErrorIs(t, err, protocol.ErrMalformed, "body cut short")
	_, _, err = protocol.ReadResponse([]byte{0, 0, 0, 1, 0xff}, req)
	assert.ErrorIs(t, err, protocol.ErrMalformed, "bad header tags")
}

func TestCountErrors(t *testing.T) {
	meta := kmsg.NewPtrMetadataResponse()
	for _, code := range []int16{kerr.UnknownTopicOrPartition.Code, 0, kerr.UnknownTopicOrPartition.Code} {
		mt := kmsg.NewMetadataResponseTopic()
		mt.ErrorCode = code
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
		mt.Partitions = append(mt.Partitions, mp, kmsg.NewMetadataResponseTopicPartition())
		meta.Topics = append(meta.Topics, mt)
	}
	heartbeat := kmsg.NewPtrHeartbeatResponse()
	heartbeat.ErrorCode = kerr.RebalanceInProgress.Code
	fetch := kmsg.NewPtrOffsetFetchResponse()
	fetch.Version = 8
	for _, code := range []int16{kerr.NotCoordinator.Code, 0} {
		g := kmsg.NewOffsetFetchResponseGroup()
		g.ErrorCode = code
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		gp.ErrorCode = kerr.UnstableOffsetCommit.Code
		gt.Partitions = append(gt.Partitions, gp)
		g.Topics = append(g.Topics, gt)
		fetch.Groups = append(fetch.Groups, g)
	}
	var nilCommit *kmsg.OffsetCommitResponse
	var nilMeta *kmsg.MetadataResponse

	for _, tc := range []struct {
		name string
		resp kmsg.Response
		want []protocol.ErrorCount
	}{
		{"metadata, by reflection", meta, []protocol.ErrorCount{
			{Code: kerr.UnknownTopicOrPartition.Code, Count: 2}, // code 3
			{Code: kerr.LeaderNotAvailable.Code, Count: 3},      // code 5
		}},
		{"heartbeat", heartbeat, []protocol.ErrorCount{{Code: kerr.RebalanceInProgress.Code, Count: 1}}},
		{"offset fetch v8", fetch, []protocol.ErrorCount{
			{Code: kerr.NotCoordinator.Code, Count: 1},
			{Code: kerr.UnstableOffsetCommit.Code, Count: 2},
		}},
		{"all NONE", kmsg.NewPtrSyncGroupResponse(), nil},
		{"nil", nil, nil},
		{"typed nil, walked", nilCommit, nil},
		{"typed nil, reflected", nilMeta, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.CountErrors(nil, tc.resp)
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("reuses dst", func(t *testing.T) {
		dst := make([]protocol.ErrorCount, 3, 8)
		got := protocol.CountErrors(dst, heartbeat)
		require.Len(t, got, 1)
		assert.Same(t, &dst[0], &got[0])
	})
}
