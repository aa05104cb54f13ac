package server

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pipeListener is a net.Listener of net.Pipe connections whose server sides count their
// writes.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }

// dial connects a client and returns its end and the server end's write counter.
func (l *pipeListener) dial(t *testing.T) (net.Conn, *atomic.Int64) {
	client, server := net.Pipe()
	c := &countingConn{Conn: server}
	l.conns <- c
	t.Cleanup(func() { client.Close() })
	return client, &c.writes
}

type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func startPipeServer(t *testing.T, opts Options) *pipeListener {
	t.Helper()
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	opts.Store = store
	if opts.Topics == nil {
		ts, err := ParseTopics("t1:1")
		require.NoError(t, err)
		opts.Topics = ts
	}
	s, err := New(opts)
	require.NoError(t, err)
	ln := newPipeListener()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, <-done)
	})
	return ln
}

// sized prefixes a frame with its size.
func sized(frame []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}

// withCorrelation returns frame with its correlation id set.
func withCorrelation(frame []byte, id int32) []byte {
	f := append([]byte(nil), frame...)
	binary.BigEndian.PutUint32(f[4:], uint32(id))
	return f
}

// readResponse reads one response frame and returns its correlation id and size.
func readResponse(t *testing.T, c net.Conn) (int32, int) {
	t.Helper()
	var hdr [8]byte
	_, err := io.ReadFull(c, hdr[:])
	require.NoError(t, err)
	n := int(binary.BigEndian.Uint32(hdr[:]))
	_, err = io.CopyN(io.Discard, c, int64(n-4))
	require.NoError(t, err)
	return int32(binary.BigEndian.Uint32(hdr[4:])), n
}

func TestConnLoop(t *testing.T) {
	apiVersions := frameOf(kmsg.NewPtrApiVersionsRequest(), 3)
	commit := func(metadata int) []byte {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group = "g"
		req.Generation = -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t1"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 7
		rp.Metadata = kmsg.StringPtr(strings.Repeat("m", metadata))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return frameOf(req, 8)
	}
	tests := []struct {
		name   string
		frames [][]byte // sent in one write, each with correlation id 1, 2, ...
		// answered is how many of them are answered (in order) before the connection
		// closes; all when it is len(frames).
		answered int
		// writes is how many writes the server makes for those answers.
		writes int64
	}{
		{"one request", [][]byte{apiVersions}, 1, 1},
		{"pipelined requests share one write", [][]byte{apiVersions, apiVersions, commit(1), apiVersions}, 4, 1},
		{"a frame larger than the read buffer", [][]byte{apiVersions, commit(3 * readBufferSize), apiVersions}, 3, 3},
		{"a bad frame after good ones: the good ones are answered first", [][]byte{apiVersions, commit(1), {0, 0}}, 2, 1},
		{"an unsupported API after a good one", [][]byte{apiVersions, frameOf(kmsg.NewPtrProduceRequest(), 3)}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := startPipeServer(t, Options{})
			c, writes := ln.dial(t)
			var all []byte
			for i, f := range tt.frames {
				if len(f) >= 8 {
					f = withCorrelation(f, int32(i+1))
				}
				all = append(all, sized(f)...)
			}
			// net.Pipe delivers the bytes as the server reads them, so the frames that fit
			// the read buffer arrive in one read. The write runs aside: the server answers
			// (and blocks on its write) before it has read everything.
			sent := make(chan error, 1)
			go func() { _, err := c.Write(all); sent <- err }()
			for i := range tt.answered {
				id, _ := readResponse(t, c)
				require.Equal(t, int32(i+1), id)
			}
			if tt.answered < len(tt.frames) {
				_, err := c.Read(make([]byte, 1))
				require.ErrorIs(t, err, io.EOF, "the connection is closed after the bad frame")
				<-sent
			} else {
				require.NoError(t, <-sent)
			}
			require.Equal(t, tt.writes, writes.Load())
		})
	}
}

// A JoinGroup waits for the group's other members; what was answered before it is written
// first. Member a forms the group; b's JoinGroup, pipelined behind an ApiVersions, then waits
// for a to rejoin, which a does only after the test has read the ApiVersions answer.
func TestConnLoopWritesBeforeJoinGroup(t *testing.T) {
	ln := startPipeServer(t, Options{})
	join := func(member string) []byte {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = "g"
		req.MemberID = member
		req.SessionTimeoutMillis = 30000
		req.RebalanceTimeoutMillis = 60000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		return frameOf(req, 3) // v3: no MEMBER_ID_REQUIRED round trip
	}
	readJoin := func(c net.Conn) *kmsg.JoinGroupResponse {
		var size [4]byte
		_, err := io.ReadFull(c, size[:])
		require.NoError(t, err)
		b := make([]byte, binary.BigEndian.Uint32(size[:]))
		_, err = io.ReadFull(c, b)
		require.NoError(t, err)
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = 3
		require.NoError(t, resp.ReadFrom(b[4:]))
		require.Zero(t, resp.ErrorCode)
		return resp
	}
	a, _ := ln.dial(t)
	_, err := a.Write(sized(join("")))
	require.NoError(t, err)
	memberA := readJoin(a).MemberID

	b, _ := ln.dial(t)
	go func() {
		_, _ = b.Write(append(sized(withCorrelation(frameOf(kmsg.NewPtrApiVersionsRequest(), 3), 1)), sized(withCorrelation(join(""), 2))...))
	}()
	id, _ := readResponse(t, b) // hangs if the answer waited behind the JoinGroup
	require.Equal(t, int32(1), id)

	_, err = a.Write(sized(join(memberA)))
	require.NoError(t, err)
	readJoin(a)
	readJoin(b)
}
