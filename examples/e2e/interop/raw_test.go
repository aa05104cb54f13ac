package interop

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/protocol"
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
	buf, err := protocol.ReadFrame(r.c, nil, 64<<20)
	if err != nil {
		return 0, nil, err
	}
	if len(buf) < 4 {
		return 0, nil, fmt.Errorf("response frame of %d bytes", len(buf))
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// do sends req and decodes the response at the request's version.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.write(r.frame(req))
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	frame, err := protocol.ReadFrame(r.c, nil, 64<<20)
	require.NoError(r.t, err)
	corr, resp, err := protocol.ReadResponse(frame, req)
	require.NoError(r.t, err)
	require.Equal(r.t, r.corr, corr)
	if resp.IsFlexible() && kmsg.Key(req.Key()) != kmsg.ApiVersions {
		require.Equal(r.t, byte(0), frame[4], "empty response header tags")
	}
	return resp
}

// closedByPeer reports whether the gateway closed the connection (without answering).
func (r *rawConn) closedByPeer() bool {
	_, _, err := r.readFrame()
	return err != nil
}
