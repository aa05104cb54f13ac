package protocol_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/protocol"
)

// frame builds a request frame (without the size prefix) with kmsg's own request formatter.
func frame(req kmsg.Request, corr int32, clientID *string) []byte {
	var opts []kmsg.RequestFormatterOpt
	if clientID != nil {
		opts = append(opts, kmsg.FormatterClientID(*clientID))
	}
	return kmsg.NewRequestFormatter(opts...).AppendRequest(nil, req, corr)[4:]
}

// rawHeader builds a header by hand: key, version, correlation id, then extra bytes.
func rawHeader(key kmsg.Key, version int16, corr int32, extra ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return append(b, extra...)
}

func TestReadRequestHeader(t *testing.T) {
	cid := "client-1"
	commit8 := kmsg.NewPtrOffsetCommitRequest()
	commit8.Version, commit8.Group = 8, "g"
	commit2 := kmsg.NewPtrOffsetCommitRequest()
	commit2.Version, commit2.Group = 2, "g"
	av3 := kmsg.NewPtrApiVersionsRequest()
	av3.Version, av3.ClientSoftwareName = 3, "x"

	cases := []struct {
		name    string
		frame   []byte
		want    protocol.RequestHeader
		body    []byte
		wantErr error
	}{
		{"v1 header with client id", frame(commit2, 7, &cid),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 2, CorrelationID: 7, ClientID: &cid}, commit2.AppendTo(nil), nil},
		{"v1 header with null client id", frame(commit2, -3, nil),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 2, CorrelationID: -3}, commit2.AppendTo(nil), nil},
		{"v2 header: int16 client id, then tags", frame(commit8, 9, &cid),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 9, ClientID: &cid}, commit8.AppendTo(nil), nil},
		{"v2 header with tagged fields skipped", rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff, 2, 0, 3, 'a', 'b', 'c', 5, 1, 'z', 'B'),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 1}, []byte{'B'}, nil},
		{"ApiVersions v3 uses header v2", frame(av3, 4, &cid),
			protocol.RequestHeader{Key: kmsg.ApiVersions.Int16(), Version: 3, CorrelationID: 4, ClientID: &cid}, av3.AppendTo(nil), nil},
		{"ApiVersions newer than kmsg: header v2, unsupported", rawHeader(kmsg.ApiVersions, 99, 5, 0, 1, 'c', 0, 'B'),
			protocol.RequestHeader{Key: kmsg.ApiVersions.Int16(), Version: 99, CorrelationID: 5, ClientID: strp("c")}, []byte{'B'}, protocol.ErrUnsupported},
		{"ControlledShutdown v0 has no client id", rawHeader(kmsg.ControlledShutdown, 0, 6, 0, 0, 0, 1),
			protocol.RequestHeader{Key: kmsg.ControlledShutdown.Int16(), Version: 0, CorrelationID: 6}, []byte{0, 0, 0, 1}, nil},
		{"unknown key", rawHeader(kmsg.Key(999), 0, 8, 0xff, 0xff, 'B'),
			protocol.RequestHeader{Key: 999, Version: 0, CorrelationID: 8}, []byte{'B'}, protocol.ErrUnsupported},
		{"version newer than kmsg", rawHeader(kmsg.OffsetCommit, 11, 8, 0xff, 0xff, 'B'),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 11, CorrelationID: 8}, []byte{'B'}, protocol.ErrUnsupported},
		{"negative version", rawHeader(kmsg.OffsetCommit, -1, 8, 0xff, 0xff),
			protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: -1, CorrelationID: 8}, []byte{}, protocol.ErrUnsupported},
		{"shorter than a header", []byte{0, 8, 0, 1, 0, 0, 0}, protocol.RequestHeader{}, nil, protocol.ErrMalformed},
		{"empty", nil, protocol.RequestHeader{}, nil, protocol.ErrMalformed},
		{"no client id length", rawHeader(kmsg.OffsetCommit, 2, 1, 0), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 2, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"client id longer than the frame", rawHeader(kmsg.OffsetCommit, 2, 1, 0x7f, 0xff, 'a'), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 2, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"client id length -2", rawHeader(kmsg.OffsetCommit, 2, 1, 0xff, 0xfe), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 2, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"missing tag count", rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"tag size past the end", rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff, 1, 0, 9, 'a'), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"huge tag count", rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 1}, nil, protocol.ErrMalformed},
		{"varint over 32 bits", rawHeader(kmsg.OffsetCommit, 8, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), protocol.RequestHeader{Key: kmsg.OffsetCommit.Int16(), Version: 8, CorrelationID: 1}, nil, protocol.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr, body, err := protocol.ReadRequestHeader(c.frame)
			require.ErrorIs(t, err, c.wantErr) // a nil wantErr wants a nil err
			assert.Equal(t, c.want, hdr, "header")
			if c.body != nil {
				assert.Equal(t, c.body, body, "body")
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	cid := "c"
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = strp("t")
	meta.Topics = append(meta.Topics, mt)
	fetch := fetchReq(8, "g", "t", []int32{0, 1})
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	for _, req := range []kmsg.Request{meta, fetch, av, commitReq(3, "g", 1, "m", "t", []part{{0, 1, -1, strp("x")}})} {
		hdr, got, err := protocol.ReadRequest(frame(req, 11, &cid))
		require.NoError(t, err, "key %d", req.Key())
		assert.Equal(t, protocol.RequestHeader{Key: req.Key(), Version: req.GetVersion(), CorrelationID: 11, ClientID: &cid}, hdr)
		assert.Equal(t, req.AppendTo(nil), got.AppendTo(nil), "key %d: re-encoded request", req.Key())
	}

	// A body that does not decode is malformed, with the header returned.
	short := frame(fetch, 12, nil)
	hdr, req, err := protocol.ReadRequest(short[:len(short)-3])
	require.ErrorIs(t, err, protocol.ErrMalformed, "truncated body")
	require.Nil(t, req)
	require.Equal(t, int32(12), hdr.CorrelationID, "the header comes back with the error")
	// Strings do not alias the frame.
	f := frame(commitReq(2, "grp", -1, "", "t", []part{{0, 1, -1, nil}}), 1, nil)
	_, r, err := protocol.ReadRequest(f)
	require.NoError(t, err)
	for i := range f {
		f[i] = 'X'
	}
	assert.Equal(t, "grp", r.(*kmsg.OffsetCommitRequest).Group)
}

func TestAppendResponse(t *testing.T) {
	for _, c := range []struct {
		name string
		resp kmsg.Response
		tag  bool
	}{
		{"OffsetCommit v7: response header v0", &kmsg.OffsetCommitResponse{Version: 7}, false},
		{"OffsetCommit v8: response header v1", &kmsg.OffsetCommitResponse{Version: 8}, true},
		{"ApiVersions v3: always response header v0", &kmsg.ApiVersionsResponse{Version: 3}, false},
		{"OffsetDelete v0", &kmsg.OffsetDeleteResponse{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("keep")
			out := protocol.AppendResponse(prefix, protocol.RequestHeader{Key: c.resp.Key(), CorrelationID: 0x01020304}, c.resp)
			assert.Equal(t, []byte("keep"), out[:4], "dst is appended to")
			out = out[4:]
			size := binary.BigEndian.Uint32(out)
			assert.Equal(t, uint32(len(out)-4), size, "size prefix")
			assert.Equal(t, uint32(0x01020304), binary.BigEndian.Uint32(out[4:]), "correlation id")
			body := out[8:]
			if c.tag {
				assert.Equal(t, byte(0), body[0], "empty header tags")
				body = body[1:]
			}
			assert.Equal(t, c.resp.AppendTo(nil), body, "body")
		})
	}
}

// slowReader returns at most n bytes per Read.
type slowReader struct {
	r io.Reader
	n int
}

func (s slowReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

func TestReadFrame(t *testing.T) {
	sized := func(n int32, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(n)), body...)
	}
	big := bytes.Repeat([]byte("0123456789"), 30_000)
	for _, c := range []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"small", sized(3, []byte("abc")), 0, []byte("abc"), nil},
		{"empty frame", sized(0, nil), 0, []byte(nil), nil},
		{"larger than one chunk", sized(int32(len(big)), big), 0, big, nil},
		{"at the limit", sized(3, []byte("abc")), 3, []byte("abc"), nil},
		{"over the limit", sized(4, []byte("abcd")), 3, nil, protocol.ErrMalformed},
		{"over the default limit", sized(protocol.DefaultMaxFrameSize+1, nil), 0, nil, protocol.ErrMalformed},
		{"negative size", sized(-1, nil), 0, nil, protocol.ErrMalformed},
		{"huge declared size, few bytes sent", sized(90<<20, []byte("abc")), 0, nil, io.ErrUnexpectedEOF},
		{"truncated prefix", []byte{0, 0}, 0, nil, io.ErrUnexpectedEOF},
		{"clean end", nil, 0, nil, io.EOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := protocol.ReadFrame(slowReader{bytes.NewReader(c.in), 7000}, nil, c.max)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	t.Run("reuses the buffer", func(t *testing.T) {
		buf := make([]byte, 0, 64)
		got, err := protocol.ReadFrame(bytes.NewReader(sized(3, []byte("abc"))), buf, 0)
		require.NoError(t, err)
		assert.Equal(t, &buf[:1][0], &got[0], "same backing array")
	})
	t.Run("a lying size allocates only what arrives", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			_, _ = protocol.ReadFrame(bytes.NewReader(sized(90<<20, []byte("abc"))), nil, 0)
		}
		runtime.ReadMemStats(&after)
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "10 frames declaring 90 MiB and sending 3 bytes")
	})
}
