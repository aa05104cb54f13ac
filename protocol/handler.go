package protocol

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// DefaultMaxMetadataBytes is Kafka's default offset.metadata.max.bytes, used when
// Options.MaxMetadataBytes is 0.
const DefaultMaxMetadataBytes = 4096

// Options configures a Handler. The zero value is valid: every field has a documented default.
type Options struct {
	// Groups is the group coordinator's say in each request (member, generation and state
	// checks, coordinator ownership). nil applies Kafka's rules for a group with no members:
	// see GroupValidator and ErrNoActiveGroup.
	Groups GroupValidator
	// Authorizer decides ACL checks. nil allows everything.
	Authorizer Authorizer
	// Topics reports which topics and partitions exist, for the checks Kafka makes on
	// OffsetCommit and OffsetDelete. nil: every topic and every non-negative partition exists.
	Topics TopicChecker
	// TopicIDs maps topic ids to names for OffsetCommit v10 and OffsetFetch v10. nil: those
	// APIs are served and advertised up to v9 only.
	TopicIDs TopicResolver
	// MaxMetadataBytes is Kafka's offset.metadata.max.bytes: a committed metadata string longer
	// than this gets OFFSET_METADATA_TOO_LARGE. Like Kafka (Java's String.length), the length
	// is counted in UTF-16 code units, which equals the byte count for ASCII. 0 means 4096; a
	// negative value disables the check.
	MaxMetadataBytes int
	// ErrorCode maps a store failure to the Kafka error code a client sees, given the API key of
	// the request. nil uses StoreErrorCode for OffsetCommit and OffsetDelete and FetchErrorCode
	// for OffsetFetch; a function that returns 0 falls back to those defaults, so a store
	// failure is never reported as success.
	ErrorCode func(apiKey int16, err error) int16
	// Now is the clock that stamps Offset.CommitTime and computes v2-v4 expiry times. nil is
	// time.Now.
	Now func() time.Time
	// Logger receives debug records of store failures and hook misbehaviour. nil discards.
	Logger *slog.Logger
	// Timeout bounds the time one request spends in the hooks and the store, like Kafka's
	// offsets.commit.timeout.ms (5 seconds by default there). When it expires the request is
	// answered with the retriable code its store failure maps to (COORDINATOR_NOT_AVAILABLE
	// for commits and deletes, NOT_COORDINATOR for fetches), so a client retries instead of
	// waiting on a stalled store. A write that timed out may still land later, but never
	// after a newer acknowledged one when the GroupValidator fences writes (GroupResult.Fenced:
	// its Done learns of the failure and the coordinator moves the fence before it accepts
	// again). 0 adds no bound beyond the caller's context.
	Timeout time.Duration
	// Observer is told about every request, for metrics and tracing (see Observer). nil
	// observes nothing and costs nothing.
	Observer Observer
	// Transactions is the transaction coordinator's check of TxnOffsetCommit's producer id
	// and epoch. A Handler serves (and advertises) TxnOffsetCommit only with a TxnValidator
	// and a store that implements offsetstore.PendingCommitter; a gateway completes the
	// pending offsets through CompleteTransaction when a transaction ends.
	Transactions TxnValidator
}

// Handler answers Kafka's consumer-offset APIs over an offsetstore.Store: OffsetCommit v0-v10,
// OffsetFetch v0-v10, OffsetDelete v0 and, with Options.Transactions over an
// offsetstore.PendingCommitter, TxnOffsetCommit v0-v6 (the top version of OffsetCommit,
// OffsetFetch and TxnOffsetCommit only with Options.TopicIDs).
//
// A Handler holds no connection state and starts no goroutines. It is safe for concurrent use;
// the order of requests on one connection is the caller's to keep. Its methods never modify
// the request they are given and return a response at the request's version. They return a Go
// error only when no Kafka response is possible: errors.Is(err, ErrUnsupported) for an API key
// or version the Handler does not serve. Every Kafka-level failure, store failures included,
// is an error code in the response.
type Handler struct {
	store       offsetstore.Store
	intoer      offsetstore.FetchIntoer      // store's FetchInto, nil without one
	slicer      offsetstore.SliceCommitter   // store's CommitSlice, nil without one
	pending     offsetstore.PendingCommitter // store's pending offsets, nil without them
	fencer      offsetstore.Fencer           // store's fences, nil without them
	txns        TxnValidator
	groups      GroupValidator
	auth        Authorizer
	topics      TopicChecker
	ids         TopicResolver
	maxMeta     int
	errorCode   func(int16, error) int16
	now         func() time.Time
	log         *slog.Logger
	obs         Observer
	timeout     time.Duration
	apis        [numAPIs]api   // the dispatch table
	maxVersions [numAPIs]int16 // each API's highest version served, -1 when not served

	mem mems // the pools of recycled memory (mem.go)
}

// New returns a Handler that stores offsets in store, configured by opts.
func New(store offsetstore.Store, opts Options) *Handler {
	h := &Handler{
		store:     store,
		groups:    opts.Groups,
		auth:      opts.Authorizer,
		topics:    opts.Topics,
		ids:       opts.TopicIDs,
		maxMeta:   opts.MaxMetadataBytes,
		errorCode: opts.ErrorCode,
		now:       opts.Now,
		log:       opts.Logger,
		obs:       opts.Observer,
		timeout:   opts.Timeout,
		txns:      opts.Transactions,
	}
	h.intoer, _ = store.(offsetstore.FetchIntoer)
	h.slicer, _ = store.(offsetstore.SliceCommitter)
	h.fencer, _ = store.(offsetstore.Fencer)
	h.pending, _ = store.(offsetstore.PendingCommitter)
	if h.maxMeta == 0 {
		h.maxMeta = DefaultMaxMetadataBytes
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.apis = apiTable()
	for i := range h.apis {
		h.maxVersions[i] = h.apis[i].max(h)
	}
	return h
}

// APIVersions returns the API keys the Handler serves with their version ranges, for the
// gateway's ApiVersions response: OffsetCommit (8) and OffsetFetch (9) v0-v9, or v0-v10 with
// Options.TopicIDs, and OffsetDelete (47) v0. The slice is the caller's to keep.
func (h *Handler) APIVersions() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, numAPIs)
	for i := range h.apis {
		if h.maxVersions[i] < 0 {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = h.apis[i].key.Int16(), h.apis[i].min, h.maxVersions[i]
		keys = append(keys, k)
	}
	return keys
}

// served returns the row of key when the Handler serves version of it, else nil.
func (h *Handler) served(key, version int16) *api {
	for i := range h.apis {
		if h.apis[i].key.Int16() == key {
			if version < h.apis[i].min || version > h.maxVersions[i] {
				return nil
			}
			return &h.apis[i]
		}
	}
	return nil
}

// serves reports whether the Handler serves version of key.
func (h *Handler) serves(key kmsg.Key, version int16) bool {
	return h.served(key.Int16(), version) != nil
}

func unsupported(key kmsg.Key, version int16) error {
	return fmt.Errorf("%w: key %d version %d", ErrUnsupported, key, version)
}

// Handle answers req, dispatching on its API key to OffsetCommit, OffsetFetch or
// OffsetDelete. Any other key, or a version the Handler does not serve, gives an error
// matching ErrUnsupported.
func (h *Handler) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if h.obs == nil {
		return h.handle(ctx, req, nil)
	}
	start := time.Now()
	var c call
	resp, err := h.handle(ctx, req, &c)
	key, version := int16(-1), int16(-1)
	if req != nil {
		key, version = req.Key(), req.GetVersion()
	}
	h.observe(ctx, key, version, start, resp, &c, err)
	return resp, err
}

func (h *Handler) handle(ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error) {
	if req == nil {
		return nil, errNilRequest
	}
	a := h.api(req.Key())
	if a == nil {
		return nil, unsupported(kmsg.Key(req.Key()), req.GetVersion())
	}
	return a.handle(h, ctx, req, c)
}

// versionOf returns req's version, -1 for a nil request.
func versionOf[T interface {
	comparable
	GetVersion() int16
}](req T) int16 {
	var zero T
	if req == zero {
		return -1
	}
	return req.GetVersion()
}

// nilIfErr returns a nil interface (not a typed nil pointer) with an error.
func nilIfErr[T kmsg.Response](resp T, err error) (kmsg.Response, error) {
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Request is Handle. It makes a *Handler a kmsg.Requestor, so that in-process callers get typed
// responses: resp, err := kmsg.NewPtrOffsetFetchRequest().RequestWith(ctx, h).
func (h *Handler) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return h.Handle(ctx, req)
}

// HandleBody decodes body as a request of the given key and version (the bytes after the
// request header), handles it, and returns the encoded response body (without a response
// header). It is the shape of a gateway with its own header codec, such as SeaweedFS's. A key or
// version the Handler does not serve gives an error matching ErrUnsupported, checked before any
// decoding; bytes that do not decode give an error matching ErrMalformed.
func (h *Handler) HandleBody(ctx context.Context, key, version int16, body []byte) ([]byte, error) {
	var start time.Time
	var c *call
	if h.obs != nil {
		start = time.Now()
		c = new(call)
	}
	out, resp, mem, err := h.handleBody(ctx, key, version, body, c)
	if h.obs != nil {
		h.observe(ctx, key, version, start, resp, c, err)
	}
	if mem.fetch != nil {
		h.putFetchMem(mem.fetch)
	}
	if mem.commit != nil {
		h.putCommitMem(mem.commit)
	}
	return out, err
}

// bodyMem is the recycled response memory a handleBody call used, to give back once the
// response is encoded and observed.
type bodyMem struct {
	fetch  *fetchMem
	commit *commitMem
}

// handleBody is HandleBody, also returning the response it encoded and the recycled memory
// that response is built in.
func (h *Handler) handleBody(ctx context.Context, key, version int16, body []byte, c *call) ([]byte, kmsg.Response, bodyMem, error) {
	a := h.served(key, version)
	if a == nil {
		return nil, nil, bodyMem{}, unsupported(kmsg.Key(key), version)
	}
	resp, mem, err := a.body(h, ctx, version, body, c)
	if err != nil {
		return nil, nil, mem, err
	}
	// Encode into a recycled scratch buffer and return an exact-size copy: one allocation,
	// whatever the response's size.
	sp := h.mem.scratch.Get()
	enc := resp.AppendTo((*sp)[:0])
	out := make([]byte, len(enc))
	copy(out, enc)
	if cap(enc) <= maxScratch {
		*sp = enc
		h.mem.scratch.Put(sp)
	}
	return out, resp, mem, nil
}

func malformed(key kmsg.Key, version int16, err error) error {
	return fmt.Errorf("%w: key %d version %d: %w", ErrMalformed, key, version, err)
}

// authorized asks the Authorizer, allowing everything without one.
func (h *Handler) authorized(ctx context.Context, key kmsg.Key, op Operation, typ ResourceType, name string) bool {
	if h.auth == nil {
		return true
	}
	return h.auth.Authorize(ctx, Action{APIKey: key.Int16(), Operation: op, ResourceType: typ, Name: name})
}

// storeErrorCode maps a store failure for the API key, logging it and recording it in c.
func (h *Handler) storeErrorCode(ctx context.Context, c *call, key kmsg.Key, group string, err error) int16 {
	c.storeFailed(err)
	var code int16
	if h.errorCode != nil {
		code = h.errorCode(key.Int16(), err)
	}
	if code == 0 {
		if key == kmsg.OffsetFetch {
			code = FetchErrorCode(err)
		} else {
			code = StoreErrorCode(err)
		}
	}
	h.log.DebugContext(ctx, "offset store failure", "api_key", key, "group", group, "code", code, "err", err)
	return code
}

// partitionCount reports how many partitions topic has (partitions 0..n-1 exist) and whether
// the topic exists at all, asking the TopicChecker. Without one every topic exists with every
// non-negative partition. No partition is ever negative: a store cannot hold one.
func (h *Handler) partitionCount(ctx context.Context, topic string) (int32, bool) {
	if h.topics == nil {
		return math.MaxInt32, true
	}
	return h.topics.PartitionCount(ctx, topic)
}
