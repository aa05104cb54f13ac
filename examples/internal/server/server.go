// Package server is the example gateway's Kafka-wire TCP server: a connection loop that reads
// request frames with protocol.ReadRequestHeader, answers ApiVersions, Metadata and
// FindCoordinator itself, hands the classic group APIs to an in-memory coordinator
// (package groups) and the offset APIs to a protocol.Handler over any offsetstore.Store, and
// writes response frames with protocol.AppendResponse. Over a store that keeps pending
// offsets (offsetstore.PendingCommitter) it is also the transaction coordinator of
// offsets-only transactions (package txncoord; FindCoordinator key type 1, InitProducerId,
// AddOffsetsToTxn, AddPartitionsToTxn, EndTxn, TxnOffsetCommit).
//
// The gateway is a single broker, node 0, that leads every partition of a fixed set of
// topics and coordinates every group. It serves offset management only: there is no Produce
// or Fetch, so a consumer must keep fetching paused, and nothing is ever in a log.
//
// Like a Kafka broker, it answers each connection's requests one at a time and in order, and
// closes a connection that sends an API key or version it does not serve, malformed bytes, or
// a frame larger than Options.MaxFrameBytes (without allocating for the declared size).
package server

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/groupcoord"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/offsetkit/offsetkit/txncoord"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults for Options.
const (
	DefaultMaxFrameBytes = 16 << 20
	// DefaultMaxInFlightBytes is the default Options.MaxInFlightBytes.
	DefaultMaxInFlightBytes = 64 << 20
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultWriteTimeout     = 30 * time.Second
	// ClusterID is the cluster id the gateway reports in Metadata.
	ClusterID = "offsetkit-gateway"
	// NodeID is the gateway's broker id: the only broker, leader and coordinator of all.
	NodeID = 0
)

// Options configures a Server. Store is required; the rest have working zero values.
type Options struct {
	// Store holds the committed offsets. The Server does not close it.
	Store offsetstore.Store
	// Topics are the topics reported by Metadata and accepted by the offset APIs.
	Topics []Topic
	// Logger receives connection and request logs. Nil discards them.
	Logger *slog.Logger
	// MaxFrameBytes bounds a request frame; a larger declared size closes the connection.
	// Zero means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// MaxInFlightBytes bounds the bytes of large request frames (over 64 KiB) read or handled
	// at once across all connections, like Kafka's queued.max.request.bytes, so memory stays
	// bounded however many clients send large frames together; a connection whose frame does
	// not fit waits. Zero means DefaultMaxInFlightBytes; negative means no bound.
	MaxInFlightBytes int64
	// IdleTimeout closes a connection that sends nothing for this long. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Groups configures the group coordinator; its Store and Logger are taken from above, and
	// its Now too when it has none.
	Groups groupcoord.Options
	// Now is the clock of commit times, group deadlines and offset retention. Nil means
	// time.Now.
	Now func() time.Time
	// Retention is Kafka's offsets.retention.minutes: how long a committed offset outlives its
	// commit (or its group's becoming Empty; see package retention). Zero means
	// retention.DefaultRetention (7 days). It applies only when Store implements
	// offsetstore.Expirer; otherwise every offset is kept and New logs that retention is off.
	Retention time.Duration
	// RetentionCheckInterval is Kafka's offsets.retention.check.interval.ms, the time between
	// retention sweeps. Zero means retention.DefaultInterval (10 minutes).
	RetentionCheckInterval time.Duration
	// OffsetsTimeout bounds the time one offset request spends in the coordinator and the
	// store, like Kafka's offsets.commit.timeout.ms: a stalled store is answered with a
	// retriable error (COORDINATOR_NOT_AVAILABLE, or NOT_COORDINATOR for fetches) instead of
	// holding the connection. Zero means DefaultOffsetsTimeout; negative means no bound.
	OffsetsTimeout time.Duration
	// Observer, if set, is told about every request, connection and expired offset, for
	// metrics.
	Observer Observer
	// Transactions configures the transaction coordinator, on when Store implements
	// offsetstore.PendingCommitter; its Completer, Topics and Logger are the gateway's, and
	// its Now too when it has none.
	Transactions txncoord.Options
}

// DefaultOffsetsTimeout is Kafka's default offsets.commit.timeout.ms.
const DefaultOffsetsTimeout = 5 * time.Second

// Server is the gateway. Create it with New, run it with Serve, stop it with Close.
type Server struct {
	store    offsetstore.Store
	log      *slog.Logger
	maxFrame int
	budget   *byteBudget // nil: no bound on large frames in flight
	idle     time.Duration
	topics   *catalog
	groups   *groupcoord.Coordinator
	txns     *txncoord.Coordinator // nil when the store keeps no pending offsets
	offsets  *protocol.Handler
	sweeper  *retention.Sweeper // nil when the store cannot expire offsets
	obs      Observer           // nil: nothing is observed
	versions map[int16]kmsg.ApiVersionsResponseApiKey
	apiKeys  []kmsg.ApiVersionsResponseApiKey

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// errUnsupported is the reason a connection is closed for an API key or version the
// gateway does not serve.
var errUnsupported = fmt.Errorf("server: %w", protocol.ErrUnsupported)

// errFrameSize is the reason a connection is closed for a declared frame size out of range.
var errFrameSize = fmt.Errorf("server: frame size out of range: %w", protocol.ErrMalformed)

// New returns a Server over opts.Store.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: Options.Store is required")
	}
	cat, err := newCatalog(opts.Topics)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		store:     opts.Store,
		log:       opts.Logger,
		maxFrame:  opts.MaxFrameBytes,
		idle:      opts.IdleTimeout,
		topics:    cat,
		obs:       opts.Observer,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxFrame <= 0 {
		s.maxFrame = DefaultMaxFrameBytes
	}
	switch {
	case opts.MaxInFlightBytes == 0:
		s.budget = newByteBudget(DefaultMaxInFlightBytes)
	case opts.MaxInFlightBytes > 0:
		s.budget = newByteBudget(opts.MaxInFlightBytes)
	}
	if s.idle <= 0 {
		s.idle = DefaultIdleTimeout
	}
	gopts := opts.Groups
	gopts.Store = opts.Store
	if gopts.Logger == nil {
		gopts.Logger = s.log.With("component", "groups")
	}
	if gopts.Now == nil {
		gopts.Now = opts.Now
	}
	s.groups = groupcoord.New(gopts)
	// Durable group state (a store with fences): groups that were Empty keep the time they
	// became Empty across a restart, so retention expires their offsets as Kafka would.
	loadCtx, cancelLoad := context.WithTimeout(context.Background(), offsetsTimeout(opts.OffsetsTimeout)+10*time.Second)
	err = s.groups.Load(loadCtx)
	cancelLoad()
	if err != nil {
		_ = s.groups.Close()
		return nil, fmt.Errorf("server: loading group state: %w", err)
	}
	if s.txns, err = s.startTransactions(opts, cat); err != nil {
		_ = s.groups.Close()
		return nil, err
	}
	var txns protocol.TxnValidator
	if s.txns != nil {
		txns = s.txns
	}
	s.offsets = protocol.New(opts.Store, protocol.Options{
		Groups:   s.groups,
		Topics:   cat,
		TopicIDs: cat,
		Now:      opts.Now,
		Timeout:  offsetsTimeout(opts.OffsetsTimeout),
		Observer: opts.Observer,
		Logger:   s.log.With("component", "offsets"),

		Transactions: txns, // nil when the store keeps no pending offsets
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.initVersions()
	s.startRetention(opts)
	return s, nil
}

// startRetention starts the offset retention sweeper, if the store supports expiry.
func (s *Server) startRetention(opts Options) {
	onExpire := func(group string, expired map[offsetstore.TopicPartition]offsetstore.Offset, groupEmpty bool) {
		s.groups.OffsetsExpired(group, expired, groupEmpty)
		if s.obs != nil {
			s.obs.OffsetsExpired(group, len(expired))
		}
	}
	sw, err := retention.New(opts.Store, retention.Options{
		Retention: opts.Retention,
		Interval:  opts.RetentionCheckInterval,
		Groups:    s.groups,
		Now:       opts.Now,
		Logger:    s.log.With("component", "retention"),
		OnExpire:  onExpire,
	})
	if err != nil {
		s.log.Warn("offset retention is off: committed offsets never expire", "reason", err)
		return
	}
	s.sweeper = sw
	sw.Start(s.ctx)
}

// SweepOffsets runs one offset retention pass now (the sweeper also runs one every
// RetentionCheckInterval). Its error matches errors.ErrUnsupported when the store cannot
// expire offsets.
func (s *Server) SweepOffsets(ctx context.Context) (retention.Stats, error) {
	if s.sweeper == nil {
		return retention.Stats{}, retention.ErrUnsupported
	}
	return s.sweeper.Sweep(ctx)
}

// initVersions builds the ApiVersions answer: what the gateway serves itself, plus the offset
// API ranges the protocol Handler reports.
func (s *Server) initVersions() {
	own := []struct {
		key kmsg.Key
		max int16
	}{
		{kmsg.ApiVersions, 5},
		{kmsg.Metadata, 13},
		{kmsg.FindCoordinator, 6},
		{kmsg.JoinGroup, 9},
		{kmsg.Heartbeat, 4},
		{kmsg.LeaveGroup, 5},
		{kmsg.SyncGroup, 5},
		{kmsg.DescribeGroups, 6},
		{kmsg.ListGroups, 5},
		{kmsg.DeleteGroups, 3},
		{kmsg.ListOffsets, 11},
	}
	s.versions = make(map[int16]kmsg.ApiVersionsResponseApiKey)
	for _, o := range own {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = o.key.Int16(), 0, o.max
		s.versions[k.ApiKey] = k
	}
	for _, k := range append(s.offsets.APIVersions(), s.txnVersions()...) {
		s.versions[k.ApiKey] = k
	}
	s.apiKeys = slices.SortedFunc(maps.Values(s.versions), func(a, b kmsg.ApiVersionsResponseApiKey) int {
		return cmp.Compare(a.ApiKey, b.ApiKey)
	})
}

// APIVersions returns the API keys and version ranges the gateway serves.
func (s *Server) APIVersions() []kmsg.ApiVersionsResponseApiKey {
	return append([]kmsg.ApiVersionsResponseApiKey(nil), s.apiKeys...)
}

// Serve accepts connections on ln until Close, and returns nil after Close or the accept
// error that stopped it. It may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.log.Info("gateway listening", "addr", ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops accepting, closes every connection, waits for their goroutines, and stops the
// retention sweeper and the group coordinator. It does not close the store. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	if s.sweeper != nil {
		_ = s.sweeper.Close() // always nil
	}
	err := s.groups.Close()
	if s.txns != nil {
		_ = s.txns.Close() // always nil
	}
	s.wg.Wait()
	return err
}

// conn is one client connection's state.
type conn struct {
	net.Conn
	host string // the client's IP, for DescribeGroups
	self *kmsg.MetadataResponseBroker
}

// handleFrame answers one request frame (the bytes after the size), appending the response
// frame to out. An error means the connection must be closed without an answer.
func (s *Server) handleFrame(ctx context.Context, c *conn, frame, out []byte) ([]byte, error) {
	// An ApiVersions request at a version we do not serve is answered, at v0, with
	// UNSUPPORTED_VERSION and our ApiVersions range, before its body (whose shape we may not
	// know) is parsed. The key, version and correlation id lead every header version.
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	hdr := protocol.RequestHeader{Key: key, Version: version, CorrelationID: int32(binary.BigEndian.Uint32(frame[4:]))}
	if resp, ok := protocol.APIVersionsFallback(hdr, nil, s.apiKeys); ok {
		// Reported as the v0 answer it is: the requested version is the client's.
		s.observe(ctx, key, 0, time.Now(), resp)
		return protocol.AppendResponse(out, hdr, resp), nil
	}
	if !s.served(key, version) {
		err := fmt.Errorf("%w: key %d (%s) v%d", errUnsupported, key, kmsg.NameForKey(key), version)
		s.observeRejected(ctx, key, version, err)
		return nil, err
	}
	hdr, body, err := protocol.ReadRequestHeader(frame)
	if err != nil {
		if !errors.Is(err, protocol.ErrMalformed) {
			err = fmt.Errorf("%w: %w", protocol.ErrMalformed, err)
		}
		s.observeRejected(ctx, key, version, err)
		return nil, err
	}
	req := kmsg.RequestForKey(hdr.Key)
	req.SetVersion(hdr.Version)
	if err := req.ReadFrom(body); err != nil {
		err = fmt.Errorf("%w: decoding %s v%d: %w", protocol.ErrMalformed, kmsg.NameForKey(hdr.Key), hdr.Version, err)
		s.observeRejected(ctx, key, version, err)
		return nil, err
	}
	start := time.Now()
	resp, err := s.handle(ctx, c, hdr, req)
	if err != nil {
		return nil, err
	}
	resp.SetVersion(hdr.Version)
	switch kmsg.Key(hdr.Key) {
	case kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.TxnOffsetCommit, kmsg.OffsetDelete: // the protocol Handler reported these
	default:
		s.observe(ctx, hdr.Key, hdr.Version, start, resp)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("request", "api", kmsg.NameForKey(hdr.Key), "version", hdr.Version,
			"correlation", hdr.CorrelationID, "client", derefOr(hdr.ClientID, ""), "took", time.Since(start))
	}
	return protocol.AppendResponse(out, hdr, resp), nil
}

func (s *Server) served(key, version int16) bool {
	k, ok := s.versions[key]
	return ok && version >= k.MinVersion && version <= k.MaxVersion
}

// handle dispatches one decoded request.
func (s *Server) handle(ctx context.Context, c *conn, hdr protocol.RequestHeader, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = s.APIVersions()
		return resp, nil
	case *kmsg.MetadataRequest:
		return s.metadata(c, r), nil
	case *kmsg.FindCoordinatorRequest:
		return s.findCoordinator(c, r), nil
	case *kmsg.ListOffsetsRequest:
		return s.listOffsets(r), nil
	case *kmsg.JoinGroupRequest:
		return s.groups.JoinGroup(ctx, r, derefOr(hdr.ClientID, ""), "/"+c.host), nil
	case *kmsg.SyncGroupRequest:
		return s.groups.SyncGroup(ctx, r), nil
	case *kmsg.HeartbeatRequest:
		return s.groups.Heartbeat(ctx, r), nil
	case *kmsg.LeaveGroupRequest:
		return s.groups.LeaveGroup(ctx, r), nil
	case *kmsg.DescribeGroupsRequest:
		return s.groups.DescribeGroups(ctx, r), nil
	case *kmsg.ListGroupsRequest:
		return s.groups.ListGroups(ctx, r), nil
	case *kmsg.DeleteGroupsRequest:
		return s.groups.DeleteGroups(ctx, r), nil
	case *kmsg.OffsetCommitRequest, *kmsg.OffsetFetchRequest, *kmsg.OffsetDeleteRequest, *kmsg.TxnOffsetCommitRequest:
		return s.offsets.Handle(ctx, req)
	}
	if resp, ok := s.handleTxn(ctx, req); ok {
		return resp, nil
	}
	return nil, fmt.Errorf("%w: %s", errUnsupported, kmsg.NameForKey(req.Key()))
}

// metadata answers Metadata v0-v13: this node is the only broker and leads every partition.
// A topic asked for by name or id that the gateway does not have gets
// UNKNOWN_TOPIC_OR_PARTITION or UNKNOWN_TOPIC_ID; topics are never auto-created.
func (s *Server) metadata(c *conn, r *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{*c.self}
	resp.ClusterID = kmsg.StringPtr(ClusterID)
	resp.ControllerID = NodeID
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if all {
		for i := range s.topics.list {
			resp.Topics = append(resp.Topics, topicMetadata(&s.topics.list[i]))
		}
		return resp
	}
	for _, rt := range r.Topics {
		var t *Topic
		if rt.Topic != nil {
			t = s.topics.byName[*rt.Topic]
		} else {
			t = s.topics.byID[rt.TopicID]
		}
		if t != nil {
			resp.Topics = append(resp.Topics, topicMetadata(t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func topicMetadata(t *Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range mt.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = NodeID
		p.LeaderEpoch = 0
		p.Replicas = []int32{NodeID}
		p.ISR = []int32{NodeID}
		mt.Partitions[i] = p
	}
	return mt
}

// findCoordinator answers FindCoordinator v0-v6 (v4+ batched): this node coordinates every
// group. Transaction coordinators are not served (COORDINATOR_NOT_AVAILABLE); other key
// types are invalid.
func (s *Server) findCoordinator(c *conn, r *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	code := int16(0)
	switch r.CoordinatorType {
	case 0: // group
	case 1: // transaction
		if s.txns == nil {
			code = kerr.CoordinatorNotAvailable.Code
		}
	default:
		code = kerr.InvalidRequest.Code
	}
	nodeID, host, port := int32(NodeID), c.self.Host, c.self.Port
	if code != 0 {
		nodeID, host, port = -1, "", -1
	}
	if r.Version < 4 {
		resp.ErrorCode = code
		resp.NodeID, resp.Host, resp.Port = nodeID, host, port
		return resp
	}
	for _, key := range r.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key = key
		rc.ErrorCode = code
		rc.NodeID, rc.Host, rc.Port = nodeID, host, port
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp
}

// listOffsets answers ListOffsets v0-v11 for a gateway with no logs: every known partition is
// empty, so its earliest, latest and any timestamp lookup give offset 0 (timestamp -1).
// Consumers that resolve a start offset without a committed one ask for this.
func (s *Server) listOffsets(r *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		t := s.topics.byName[rt.Topic]
		lt := kmsg.NewListOffsetsResponseTopic()
		lt.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			lp := kmsg.NewListOffsetsResponseTopicPartition()
			lp.Partition = rp.Partition
			if t == nil || rp.Partition < 0 || rp.Partition >= t.Partitions {
				lp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				lp.Offset = -1
			} else {
				lp.Timestamp = -1
				lp.Offset = 0
				lp.LeaderEpoch = 0
				if r.Version == 0 {
					lp.OldStyleOffsets = []int64{0}
				}
			}
			lt.Partitions = append(lt.Partitions, lp)
		}
		resp.Topics = append(resp.Topics, lt)
	}
	return resp
}

func brokerOf(a net.Addr) *kmsg.MetadataResponseBroker {
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = NodeID
	if ta, ok := a.(*net.TCPAddr); ok {
		b.Host = ta.IP.String()
		b.Port = int32(ta.Port)
		return &b
	}
	host, port, _ := net.SplitHostPort(a.String())
	p, _ := strconv.Atoi(port)
	b.Host, b.Port = host, int32(p)
	return &b
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func offsetsTimeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultOffsetsTimeout
	case d < 0:
		return 0
	}
	return d
}
