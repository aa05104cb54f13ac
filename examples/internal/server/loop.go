package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/protocol"
)

const (
	// readBufferSize is each connection's read buffer: one read takes a request's size and
	// body, and any requests pipelined behind it, and a frame that fits is handled in place.
	readBufferSize = 16 << 10
	// flushAt is the size of pending responses that is written at once, even while more
	// pipelined requests are buffered.
	flushAt = 64 << 10
	// keepBuffer is the largest frame or response buffer kept between requests, so an
	// occasional large request does not pin its memory for the connection's lifetime.
	keepBuffer = 1 << 20
)

// connLoop is one connection's request loop. It answers requests one at a time and in order,
// as a Kafka broker does, and costs one read and one write per request on an unpipelined
// connection, with no goroutine but the connection's own: a request that fits the read
// buffer is decoded where it was read, and the responses of pipelined requests that arrived
// together are written together, when no further complete request is buffered.
type connLoop struct {
	s   *Server
	c   *conn
	log *slog.Logger

	rbuf          []byte // read buffer; rbuf[r:w] is read and not yet consumed
	r, w          int
	large         []byte // a frame larger than rbuf
	out           []byte // responses not yet written
	readDeadline  time.Time
	writeDeadline time.Time
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	if s.obs != nil {
		s.obs.ConnectionsChanged(1)
		defer s.obs.ConnectionsChanged(-1)
	}
	l := &connLoop{
		s:    s,
		c:    &conn{Conn: nc, host: hostOf(nc.RemoteAddr()), self: brokerOf(nc.LocalAddr())},
		log:  s.log.With("remote", nc.RemoteAddr().String()),
		rbuf: make([]byte, readBufferSize),
	}
	l.log.Debug("connection opened")
	l.run()
}

func (l *connLoop) run() {
	s := l.s
	for {
		frame, units, ok := l.next()
		if !ok {
			return
		}
		// JoinGroup and SyncGroup wait for the group's other members, for seconds at times:
		// what is answered already goes out first.
		if key := kmsg.Key(binary.BigEndian.Uint16(frame)); (key == kmsg.JoinGroup || key == kmsg.SyncGroup) && !l.flush() {
			s.budget.release(units)
			return
		}
		out, err := s.handleFrame(s.ctx, l.c, frame, l.out)
		s.budget.release(units)
		// What the budget covered must not outlive it, and a large frame is not kept.
		if (units > 0 && cap(l.large) > budgetUnit) || cap(l.large) > keepBuffer {
			l.large = nil
		}
		if err != nil {
			l.flush() // the answers to the requests before this one
			l.log.Warn("closing connection", "reason", err)
			return
		}
		l.out = out
		if len(l.out) >= flushAt && !l.flush() {
			return
		}
	}
}

// next returns the next request frame (the bytes after its size) and the budget units it
// holds, reading as needed; before a read it writes the pending responses. It returns false
// when the connection must close.
func (l *connLoop) next() (frame []byte, units int, ok bool) {
	s := l.s
	for l.w-l.r < 4 {
		if !l.fill() {
			return nil, 0, false
		}
	}
	n := int(int32(binary.BigEndian.Uint32(l.rbuf[l.r:])))
	if n < 8 || n > s.maxFrame {
		l.flush()
		l.log.Warn("closing connection: bad frame size", "size", n, "max", s.maxFrame)
		s.observeRejected(s.ctx, -1, -1, errFrameSize)
		return nil, 0, false
	}
	units, err := s.budget.acquire(s.ctx, n)
	if err != nil {
		return nil, 0, false // the server is closing
	}
	if 4+n <= len(l.rbuf) {
		if l.r+4+n > len(l.rbuf) {
			l.compact()
		}
		for l.w-l.r < 4+n {
			if !l.fill() {
				s.budget.release(units)
				return nil, 0, false
			}
		}
		frame = l.rbuf[l.r+4 : l.r+4+n]
		l.r += 4 + n
		return frame, units, true
	}
	// A frame larger than the read buffer: what is buffered is its start, and the rest is
	// read straight from the connection, memory growing with the bytes that arrive.
	if !l.flush() {
		s.budget.release(units)
		return nil, 0, false
	}
	head := l.rbuf[l.r+4 : l.w]
	l.r, l.w = 0, 0
	l.large, err = protocol.ReadFrameBody(io.MultiReader(bytes.NewReader(head), readerFunc(l.read)), l.large, n)
	if err != nil {
		s.budget.release(units)
		l.log.Debug("connection closed mid-frame", "reason", err)
		return nil, 0, false
	}
	return l.large, units, true
}

// fill reads once into the read buffer, after writing the pending responses: this is the
// only place a connection waits for its client, so responses never wait on a read.
func (l *connLoop) fill() bool {
	if !l.flush() {
		return false
	}
	if l.r == l.w {
		l.r, l.w = 0, 0
	} else if l.w == len(l.rbuf) {
		l.compact()
	}
	m, err := l.read(l.rbuf[l.w:])
	l.w += m
	if err != nil && m == 0 {
		l.log.Debug("connection closed", "reason", err)
		return false
	}
	return true
}

// read reads from the connection, pushing the idle deadline forward only when a quarter of
// it has passed, which keeps a syscall-free path for busy connections without loosening the
// idle limit much.
func (l *connLoop) read(p []byte) (int, error) {
	if now := time.Now(); l.readDeadline.Sub(now) < l.s.idle*3/4 {
		l.readDeadline = now.Add(l.s.idle)
		_ = l.c.SetReadDeadline(l.readDeadline)
	}
	return l.c.Read(p)
}

func (l *connLoop) compact() {
	l.w = copy(l.rbuf, l.rbuf[l.r:l.w])
	l.r = 0
}

// flush writes the pending responses, and reports whether the connection is still usable.
func (l *connLoop) flush() bool {
	if len(l.out) == 0 {
		return true
	}
	if now := time.Now(); l.writeDeadline.Sub(now) < DefaultWriteTimeout*3/4 {
		l.writeDeadline = now.Add(DefaultWriteTimeout)
		_ = l.c.SetWriteDeadline(l.writeDeadline)
	}
	_, err := l.c.Write(l.out)
	if cap(l.out) > keepBuffer {
		l.out = nil
	} else {
		l.out = l.out[:0]
	}
	if err != nil {
		l.log.Debug("connection closed on write", "reason", err)
		return false
	}
	return true
}

// readerFunc is an io.Reader of a read function.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
