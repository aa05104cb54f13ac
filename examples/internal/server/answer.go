package server

import (
	"context"
	"net"
)

// AnswerFrame answers one request frame (the bytes after its size) as a connection from
// remote to local would be answered, appending the response frame, size included, to out.
// An error means the connection would be closed without an answer. It exists for tools that
// run their own loop, such as the echo floor of examples/e2e/bench.
func (s *Server) AnswerFrame(ctx context.Context, local, remote net.Addr, frame, out []byte) ([]byte, error) {
	c := &conn{host: hostOf(remote), self: brokerOf(local)}
	return s.handleFrame(ctx, c, frame, out)
}
