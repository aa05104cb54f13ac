package main

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFrame bounds a request frame, as Kafka's socket.request.max.bytes does.
const maxFrame = 1 << 20

// bodyHandler is the SeaweedFS gateway's handler shape: request body in, response body out.
// The connection loop adds the size, the correlation id and the header tags.
type bodyHandler func(ctx context.Context, c net.Conn, version int16, body []byte) ([]byte, error)

// gateway is a byte-level Kafka gateway: a table of body handlers and a connection loop.
type gateway struct {
	log      *slog.Logger
	topics   []topic
	offsets  *protocol.Handler
	handlers map[int16]bodyHandler
	ranges   []kmsg.ApiVersionsResponseApiKey

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newGateway(store offsetstore.Store, topics []topic, log *slog.Logger) *gateway {
	g := &gateway{
		log:     log,
		topics:  topics,
		offsets: protocol.New(store, protocol.Options{Logger: log}),
		conns:   make(map[net.Conn]struct{}),
	}
	g.handlers = map[int16]bodyHandler{
		kmsg.ApiVersions.Int16():     g.apiVersions,
		kmsg.Metadata.Int16():        g.metadata,
		kmsg.FindCoordinator.Int16(): g.findCoordinator,
	}
	g.ranges = []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: kmsg.ApiVersions.Int16(), MinVersion: 0, MaxVersion: 3},
		{ApiKey: kmsg.Metadata.Int16(), MinVersion: 0, MaxVersion: 8},
		{ApiKey: kmsg.FindCoordinator.Int16(), MinVersion: 0, MaxVersion: 3},
	}
	// The offset APIs the Handler serves, each wired to HandleBody. Only the three plain
	// offset APIs: transactional commits would need a transaction coordinator this example
	// lacks.
	for _, k := range g.offsets.APIVersions() {
		switch kmsg.Key(k.ApiKey) {
		case kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.OffsetDelete:
		default:
			continue
		}
		key := k.ApiKey
		g.handlers[key] = func(ctx context.Context, _ net.Conn, version int16, body []byte) ([]byte, error) {
			return g.offsets.HandleBody(ctx, key, version, body)
		}
		g.ranges = append(g.ranges, k)
	}
	return g
}

// Serve accepts connections until Close.
func (g *gateway) Serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	closed := g.closed
	g.mu.Unlock()
	if closed {
		ln.Close()
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			c.Close()
			return
		}
		g.conns[c] = struct{}{}
		g.wg.Add(1)
		g.mu.Unlock()
		go g.serveConn(c)
	}
}

// Close stops accepting, closes every connection and waits for their goroutines.
func (g *gateway) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	if g.ln != nil {
		g.ln.Close()
	}
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *gateway) serveConn(c net.Conn) {
	defer g.wg.Done()
	defer func() {
		c.Close()
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
	}()
	ctx := context.Background()
	var buf []byte
	for {
		frame, err := protocol.ReadFrame(c, buf, maxFrame)
		if err != nil {
			if errors.Is(err, protocol.ErrMalformed) {
				g.log.Warn("closing connection", "err", err) // a frame size out of range
			}
			return
		}
		buf = frame
		hdr, body, err := protocol.ReadRequestHeader(frame)
		if resp, ok := protocol.APIVersionsFallback(hdr, err, g.ranges); ok {
			// An ApiVersions version this gateway does not serve: answered at v0 with
			// UNSUPPORTED_VERSION, so the client retries at one it does.
			if _, err := c.Write(protocol.AppendResponse(nil, hdr, resp)); err != nil {
				return
			}
			continue
		}
		if err != nil {
			g.log.Warn("closing connection", "err", err)
			return
		}
		respBody, flexible, err := g.dispatch(ctx, c, hdr, body)
		if err != nil {
			g.log.Warn("closing connection", "key", hdr.Key, "version", hdr.Version, "err", err)
			return
		}
		// Response header: correlation id, plus an empty tag section for flexible responses
		// (never for ApiVersions, whose responses always use header v0).
		out := make([]byte, 8, 9+len(respBody))
		binary.BigEndian.PutUint32(out[4:], uint32(hdr.CorrelationID))
		if flexible && kmsg.Key(hdr.Key) != kmsg.ApiVersions {
			out = append(out, 0)
		}
		out = append(out, respBody...)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// dispatch runs the handler of the request's key, after the version check every gateway makes.
// It reports whether the response is flexible, which decides the response header's shape.
func (g *gateway) dispatch(ctx context.Context, c net.Conn, hdr protocol.RequestHeader, body []byte) ([]byte, bool, error) {
	h, ok := g.handlers[hdr.Key]
	if !ok || !g.serves(hdr.Key, hdr.Version) {
		return nil, false, protocol.ErrUnsupported
	}
	respBody, err := h(ctx, c, hdr.Version, body)
	if err != nil {
		return nil, false, err
	}
	kind := kmsg.ResponseForKey(hdr.Key)
	kind.SetVersion(hdr.Version)
	return respBody, kind.IsFlexible(), nil
}

func (g *gateway) serves(key, version int16) bool {
	for _, r := range g.ranges {
		if r.ApiKey == key {
			return version >= r.MinVersion && version <= r.MaxVersion
		}
	}
	return false
}

func (g *gateway) apiVersions(_ context.Context, _ net.Conn, version int16, body []byte) ([]byte, error) {
	req := kmsg.ApiVersionsRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = g.ranges
	return resp.AppendTo(nil), nil
}

// self is the broker address clients reach this gateway at: the connection's local address.
func self(c net.Conn) (string, int32) {
	host, port, _ := net.SplitHostPort(c.LocalAddr().String())
	p, _ := strconv.Atoi(port)
	return host, int32(p)
}

func (g *gateway) metadata(_ context.Context, c net.Conn, version int16, body []byte) ([]byte, error) {
	req := kmsg.MetadataRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := self(c)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: host, Port: port}}
	resp.ClusterID = kmsg.StringPtr("bytelevel")
	want := map[string]bool{}
	for _, t := range req.Topics {
		if t.Topic != nil {
			want[*t.Topic] = true
		}
	}
	all := req.Topics == nil || (version == 0 && len(req.Topics) == 0)
	for _, t := range g.topics {
		if !all && !want[t.Name] {
			continue
		}
		delete(want, t.Name)
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(t.Name)
		for p := range t.Partitions {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition, mp.Leader, mp.Replicas, mp.ISR = p, 0, []int32{0}, []int32{0}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	for name := range want {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		resp.Topics = append(resp.Topics, mt)
	}
	return resp.AppendTo(nil), nil
}

func (g *gateway) findCoordinator(_ context.Context, c net.Conn, version int16, body []byte) ([]byte, error) {
	req := kmsg.FindCoordinatorRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	resp.Host, resp.Port = self(c)
	if req.CoordinatorType != 0 {
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	return resp.AppendTo(nil), nil
}
