// Package filerstore is an [offsetstore.Store] that keeps committed Kafka consumer offsets in
// a SeaweedFS filer, through the filer's gRPC API (package filer_pb).
//
// # Layout
//
// The store reads and writes the layout of the SeaweedFS Kafka gateway, so a gateway that
// switches to it keeps every offset it committed before:
//
//	{Root}/{group}/{topic}/{partition}/offset
//
// Root defaults to /topics/kafka/.meta/consumer_offsets; {partition} is the decimal partition
// number. The offset file holds, inline in the entry (no chunks), the gateway's JSON document
//
//	{"type":"offset","value":42,"committed_at":1760000000000,"metadata":"","leader_epoch":7}
//
// with two fields added: "leader_epoch" (entries without it read as -1) and "expire_at" (unix
// milliseconds of an explicit expiry, omitted when there is none). The gateway's reader ignores
// both. committed_at 0 stands for a zero CommitTime.
//
// Group and topic names are escaped with [EscapeName]: the identity for safe names, so the
// gateway's data stays readable, and injective, so no group can read or write another group's
// offsets or anything outside Root. Over-long names are stored under a hashed name, with the
// original kept in a marker file named "%name" inside the hashed directory; a Commit to such
// a group or topic writes that marker first, which costs one more round trip.
//
// The gateway does not escape, so what it wrote under an unsafe name (one with '/', '%', a
// control character or invalid UTF-8, "", ".", "..", or longer than 255 bytes) is not read
// back under that name: such data was already unreachable or ambiguous for the gateway
// itself (a group "a/b" nests inside group "a"), and is left where it is.
//
// # Round trips
//
// On a filer with ObjectTransaction (SeaweedFS 4.29+), a Commit or Delete of any number of
// partitions is one ObjectTransaction per 1,024 partitions, under the lock of the group's
// directory; on older filers one partition is one CreateEntry (or DeleteEntry), and more go
// over one StreamMutateEntry stream (4.18+) or in bounded parallel unary calls. A Fetch of one
// partition is one LookupDirectoryEntry, of more one LookupDirectoryEntries call per 1,024
// partitions. FetchAll is one TraverseBfsMetadata stream over the group's directory. On
// filers that lack those RPCs the store falls back to unary calls in bounded parallel, and to
// paginated ListEntries for FetchAll, so groups larger than the filer's listing limit are
// read whole.
//
// The store also implements offsetstore.Inserter and offsetstore.Expirer, with the filer's
// conditional writes (see CommitIfAbsent and ExpireOffsets). Offset files carry the MD5 of
// their content as an attribute, which the filer serves as their ETag.
//
// # Group fences and state
//
// The store implements offsetstore.Fencer on filers with ObjectTransaction. Each group with a
// fence or state has one entry beside the offsets, in a sibling directory of Root that no
// reader of the offsets layout lists (the SeaweedFS gateway keeps its own coordinator state
// beside Root in the same way):
//
//	{Root}.offsetkit/groups/{group}
//
// escaped like the offsets' group directories (hashed names included: the entry holds the
// group's name). The entry's content is exactly
//
//	{"type":"group_fence","fence":3}
//
// with the content's MD5 as its attribute, so that its ETag is known to any writer that knows
// the fence; its extended attribute "offsetkit-state" holds the group's state as JSON:
//
//	{"group":"billing","protocol_type":"consumer","protocol":"range","generation":5,
//	 "empty":true,"state_time":1760000000123,"subscribed":["orders","payments"]}
//
// state_time is in unix milliseconds (0 for none); subscribed is null when unknown and []
// when the group subscribes to nothing; a name that is not valid UTF-8 is written as
// {"base64":"..."}. The extended attribute "offsetkit-fenced" is "1" once the fence is above
// 0. A group without an entry is at fence 0 with a zero state.
//
// Every fenced write is an ObjectTransaction under the lock of the group's offsets directory,
// the lock every write of the store to the group takes, whose condition the filer evaluates
// under that lock, against the group's entry, when it applies the write: for fence N > 0, the
// entry's ETag is the MD5 of the content above for N; for fence 0, the entry is absent or
// lacks the "offsetkit-fenced" flag. A write delayed anywhere before the filer applies it is
// therefore refused once the fence has moved. SaveGroupState is one such transaction that
// writes the entry. Delete and DeleteGroup never touch the entries, so fences only move
// forward. Batches larger than 1,024 partitions go in several transactions, each
// conditioned on the fence.
//
// On a filer without ObjectTransaction, and on a store whose Root is "/" (which has no
// sibling), every Fencer method returns an error matching errors.ErrUnsupported, and a
// caller falls back as offsetstore.Fencer documents.
//
// # Errors
//
// Only the filer's "no entry is found" makes an offset absent. Every other failure, an
// unreadable entry included, is returned as an [*offsetstore.Error]. A write that failed, on
// a deadline say, may still have reached the filer and be applied, as the offsetstore
// contract allows for any failed Commit or Delete. The store keeps no cache:
// every read goes to the filer, so several stores (several gateways) over one filer always
// see each other's writes.
package filerstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DefaultRoot is the directory under which the SeaweedFS Kafka gateway keeps consumer offsets.
const DefaultRoot = "/topics/kafka/.meta/consumer_offsets"

// DefaultParallelism bounds the concurrent RPCs of one call: batched lookups, and unary
// calls on filers without the batch RPCs.
const DefaultParallelism = 16

const (
	// listPageSize is the Limit of each ListEntries call: at most the smallest listing limit
	// of a filer (1,000 on `weed server`), so every page is returned whole.
	listPageSize = 1000
	// lookupBatchSize is the number of lookups per LookupDirectoryEntries call (the filer
	// accepts up to 4,096).
	lookupBatchSize = 1024
	// txnBatchSize is the number of mutations per ObjectTransaction call.
	txnBatchSize = 1024
	// maxParallelism caps Options.Parallelism.
	maxParallelism = 256
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Root is the absolute filer directory holding the offsets. Default: DefaultRoot.
	Root string
	// Parallelism bounds the concurrent RPCs of one call (at most 256). Default:
	// DefaultParallelism.
	Parallelism int
	// Logger receives warnings, such as directories that are not the store's and are
	// skipped. Default: discard.
	Logger *slog.Logger
	// DialOptions are used by Dial instead of its defaults: plaintext transport
	// credentials and a reconnect backoff capped at 2 s. New ignores them.
	DialOptions []grpc.DialOption
}

// Store is an offsetstore.Store on a SeaweedFS filer. It is safe for concurrent use.
type Store struct {
	client filer_pb.SeaweedFilerClient
	conn   *grpc.ClientConn // owned when the Store was made by Dial
	root   string
	par    int
	log    *slog.Logger

	closeCtx  context.Context
	closeNow  context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	// noX is set when the filer answered Unimplemented, so later calls use the fallback at
	// once.
	hasTxn         atomic.Bool // the filer answered an ObjectTransaction
	noTxn          atomic.Bool
	noStreamMutate atomic.Bool
	noBatchLookup  atomic.Bool
	noTraverse     atomic.Bool
}

var _ offsetstore.Store = (*Store)(nil)

// New returns a Store that uses client, which the caller keeps and closes.
func New(client filer_pb.SeaweedFilerClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: filerstore: nil client", offsetstore.ErrInvalid)
	}
	root := opts.Root
	if root == "" {
		root = DefaultRoot
	}
	if root[0] != '/' || path.Clean(root) != root {
		return nil, fmt.Errorf("%w: filerstore: root %q is not a clean absolute path", offsetstore.ErrInvalid, root)
	}
	par := opts.Parallelism
	if par <= 0 {
		par = DefaultParallelism
	}
	par = min(par, maxParallelism)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{client: client, root: root, par: par, log: log}
	s.closeCtx, s.closeNow = context.WithCancel(context.Background())
	return s, nil
}

// Dial connects to the filer gRPC address addr (host:port), checks with one RPC, bounded by
// ctx, that a filer answers there, and returns a Store that owns the connection and closes
// it on Close. It uses plaintext gRPC unless opts.DialOptions says otherwise.
func Dial(ctx context.Context, addr string, opts Options) (*Store, error) {
	dialOpts := opts.DialOptions
	if len(dialOpts) == 0 {
		dialOpts = []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// gRPC's default reconnect backoff grows to 120 s, so a gateway could go on
			// failing for two minutes after its filer came back; keep retries frequent.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: 5 * time.Second,
			}),
		}
	}
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("filerstore: dial %s: %w", addr, err)
	}
	s, err := New(filer_pb.NewSeaweedFilerClient(conn), opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.conn = conn
	if _, err := s.client.GetFilerConfiguration(ctx, &filer_pb.GetFilerConfigurationRequest{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("filerstore: filer at %s: %w", addr, ctxErr(ctx, err))
	}
	return s, nil
}

// Root returns the filer directory the store keeps its offsets in.
func (s *Store) Root() string { return s.root }

// Close stops every call in flight and, for a Store made by Dial, closes the connection. It
// is idempotent; every method returns an error matching offsetstore.ErrClosed afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeNow()
		if s.conn != nil {
			s.closeErr = s.conn.Close()
		}
	})
	return s.closeErr
}

// begin starts an operation: it refuses a closed store or a done context, and returns a
// context that Close also cancels.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closeCtx.Err() != nil {
		return nil, nil, offsetstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closeCtx, cancel)
	return opCtx, func() { stop(); cancel() }, nil
}

// fail wraps err for the caller: context and close errors are made visible to errors.Is
// (gRPC reports them as status codes only), and everything is an *offsetstore.Error.
func (s *Store) fail(ctx context.Context, op, group string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, offsetstore.ErrClosed), errors.Is(err, offsetstore.ErrInvalid), errors.Is(err, offsetstore.ErrGroupNotFound):
	case ctx.Err() != nil:
		err = ctxErr(ctx, err)
	case s.closeCtx.Err() != nil:
		err = fmt.Errorf("%w: %w", offsetstore.ErrClosed, err)
	}
	return &offsetstore.Error{Op: op, Group: group, Err: err}
}

// ctxErr makes err match ctx.Err() when ctx is done.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

func isUnimplemented(err error) bool {
	return status.Code(err) == codes.Unimplemented
}

// joinPath joins a directory and one name.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (s *Store) groupDir(group string) string { return joinPath(s.root, EscapeName(group)) }

// forEach runs fn(ctx, i) for i in [0, n) with at most par calls at once, and returns the
// first error; the first error cancels the calls still running.
func forEach(ctx context.Context, n, par int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 {
		return fn(ctx, 0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		next     atomic.Int64
	)
	for range min(n, par) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return firstErr
}

// now is the clock for entry attributes.
func now() time.Time { return time.Now() }
