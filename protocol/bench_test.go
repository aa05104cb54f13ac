package protocol_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// benchVersion is the version kgo and the Java client use against Kafka 3.x/4.x.
const benchVersion = 9

func benchCommitReq() *kmsg.OffsetCommitRequest {
	var parts []part
	for p := range int32(8) {
		parts = append(parts, part{p, 1000 + int64(p), 5, strp("")})
	}
	return commitReq(benchVersion, "bench-group", -1, "", "bench-topic", parts)
}

func benchFetchReq() *kmsg.OffsetFetchRequest {
	return fetchReq(benchVersion, "bench-group", "bench-topic", []int32{0, 1, 2, 3, 4, 5, 6, 7})
}

// benchHandler returns a Handler over a memstore holding the benchmark group's offsets.
func benchHandler(b *testing.B) *protocol.Handler {
	st := memstore.New(memstore.Options{})
	b.Cleanup(func() { _ = st.Close() })
	return benchHandlerOver(b, st)
}

// benchHandlerOver returns a Handler over st after committing the benchmark group's offsets.
func benchHandlerOver(b *testing.B, st offsetstore.Store) *protocol.Handler {
	h := protocol.New(st, protocol.Options{})
	if _, err := h.OffsetCommit(context.Background(), benchCommitReq()); err != nil {
		b.Fatal(err)
	}
	return h
}

// benchAPI runs, for one request, the three measurements the issue compares: the codec floor
// (kmsg decode of the request plus encode of the response the handler gives), HandleBody
// (request body in, response body out), and the frame path (ReadRequest, Handle,
// AppendResponse into a reused buffer).
func benchAPI(b *testing.B, req kmsg.Request) {
	ctx := context.Background()
	h := benchHandler(b)
	body := req.AppendTo(nil)
	frameBytes := frame(req, 1, strp("bench"))
	resp, err := h.Handle(ctx, req)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := kmsg.RequestForKey(req.Key())
			r.SetVersion(req.GetVersion())
			if err := r.ReadFrom(body); err != nil {
				b.Fatal(err)
			}
			_ = resp.AppendTo(nil)
		}
	})
	b.Run("HandleBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.HandleBody(ctx, req.Key(), req.GetVersion(), body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		var out []byte
		for b.Loop() {
			hdr, r, err := protocol.ReadRequest(frameBytes)
			if err != nil {
				b.Fatal(err)
			}
			resp, err := h.Handle(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			out = protocol.AppendResponse(out[:0], hdr, resp)
		}
	})
}

// BenchmarkOffsetCommit: 1 group, 1 topic, 8 partitions over memstore.
func BenchmarkOffsetCommit(b *testing.B) { benchAPI(b, benchCommitReq()) }

// BenchmarkOffsetFetch: 1 group, 1 topic, 8 partitions over memstore.
func BenchmarkOffsetFetch(b *testing.B) { benchAPI(b, benchFetchReq()) }

// nopStore isolates the protocol layer's own cost: Commit stores nothing, and Fetch answers
// from a map built once (returned as is, which a real store must not do).
type nopStore struct {
	offsetstore.Store
	fetched map[offsetstore.TopicPartition]offsetstore.Offset
}

func (n *nopStore) Commit(_ context.Context, _ string, o map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if n.fetched == nil {
		n.fetched = maps.Clone(o)
	}
	return nil
}

func (n *nopStore) Fetch(context.Context, string, []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	return n.fetched, nil
}

// BenchmarkRatio measures the handler against the codec floor interleaved, in alternating
// chunks, so that load from other processes hits both alike; it reports the floor's and the
// handler's ns per request and their ratio (the target: at most 1.5).
func BenchmarkRatio(b *testing.B) {
	for _, c := range []struct {
		name string
		req  kmsg.Request
		nop  bool
	}{
		{"OffsetCommit/memstore", benchCommitReq(), false},
		{"OffsetFetch/memstore", benchFetchReq(), false},
		{"OffsetCommit/nopstore", benchCommitReq(), true},
		{"OffsetFetch/nopstore", benchFetchReq(), true},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			h := benchHandler(b)
			if c.nop {
				h = benchHandlerOver(b, &nopStore{})
			}
			req := c.req
			body := req.AppendTo(nil)
			resp, err := h.Handle(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			floor := func() {
				r := kmsg.RequestForKey(req.Key())
				r.SetVersion(req.GetVersion())
				if err := r.ReadFrom(body); err != nil {
					b.Fatal(err)
				}
				_ = resp.AppendTo(nil)
			}
			handler := func() {
				if _, err := h.HandleBody(ctx, req.Key(), req.GetVersion(), body); err != nil {
					b.Fatal(err)
				}
			}
			const chunk = 256
			var floorNs, handlerNs time.Duration
			var n int
			for b.Loop() {
				start := time.Now()
				for range chunk {
					floor()
				}
				mid := time.Now()
				for range chunk {
					handler()
				}
				floorNs += mid.Sub(start)
				handlerNs += time.Since(mid)
				n += chunk
			}
			b.ReportMetric(float64(floorNs)/float64(n), "floor-ns/req")
			b.ReportMetric(float64(handlerNs)/float64(n), "handler-ns/req")
			b.ReportMetric(float64(handlerNs)/float64(floorNs), "ratio")
		})
	}
}

// BenchmarkObserver shows what an Observer costs per request through HandleBody: "none" is a
// Handler without one (the default, which does no observation work), "func" one with an
// ObserverFunc that only reads the event.
func BenchmarkObserver(b *testing.B) {
	var sink int
	observe := protocol.ObserverFunc(func(_ context.Context, ev protocol.RequestEvent) {
		sink += len(ev.Errors) + int(ev.Duration&1)
	})
	for _, api := range []struct {
		name string
		req  kmsg.Request
	}{
		{"OffsetCommit", benchCommitReq()},
		{"OffsetFetch", benchFetchReq()},
	} {
		for _, o := range []struct {
			name string
			obs  protocol.Observer
		}{{"none", nil}, {"func", observe}} {
			b.Run(api.name+"/"+o.name, func(b *testing.B) {
				ctx := context.Background()
				st := memstore.New(memstore.Options{})
				b.Cleanup(func() { _ = st.Close() })
				h := protocol.New(st, protocol.Options{Observer: o.obs})
				if _, err := h.OffsetCommit(ctx, benchCommitReq()); err != nil {
					b.Fatal(err)
				}
				body := api.req.AppendTo(nil)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := h.HandleBody(ctx, api.req.Key(), api.req.GetVersion(), body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	_ = sink
}
