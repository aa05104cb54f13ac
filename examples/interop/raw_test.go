package interop

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a hand-rolled Kafka connection for requests at exact versions and for bytes no
// client library would send.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

// frame encodes req (at its set version) as a request frame with client id "raw".
func (r *rawConn) frame(req kmsg.Request) []byte {
	r.corr++
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.corr))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "raw"...)
	if req.IsFlexible() {
		b = append(b, 0) // no header tags
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.c.Write(b)
	require.NoError(r.t, err)
}

// readFrame reads one response frame and returns its correlation id and the rest.
func (r *rawConn) readFrame() (int32, []byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// do sends req and decodes the response at the request's version.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.write(r.frame(req))
	corr, body, err := r.readFrame()
	require.NoError(r.t, err)
	require.Equal(r.t, r.corr, corr)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		require.Equal(r.t, byte(0), body[0], "empty response header tags")
		body = body[1:]
	}
	require.NoError(r.t, resp.ReadFrom(body))
	return resp
}

// closedByPeer reports whether the gateway closed the connection (without answering).
func (r *rawConn) closedByPeer() bool {
	_, _, err := r.readFrame()
	return err != nil
}
