package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// A commit then a fetch through the typed API: a *Handler is a kmsg.Requestor.
func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	h := protocol.New(store, protocol.Options{})

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 9
	commit.Group = "payments" // generation -1, no member: an admin / assign() commit
	topic := kmsg.NewOffsetCommitRequestTopic()
	topic.Topic = "orders"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch = 0, 42, 3
	topic.Partitions = append(topic.Partitions, p)
	commit.Topics = append(commit.Topics, topic)
	cresp, err := commit.RequestWith(ctx, h)
	if err != nil {
		panic(err)
	}
	fmt.Println("commit:", kerr.ErrorForCode(cresp.Topics[0].Partitions[0].ErrorCode))

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	group := kmsg.NewOffsetFetchRequestGroup()
	group.Group = "payments"
	ft := kmsg.NewOffsetFetchRequestGroupTopic()
	ft.Topic, ft.Partitions = "orders", []int32{0, 1}
	group.Topics = append(group.Topics, ft)
	fetch.Groups = append(fetch.Groups, group)
	fresp, err := fetch.RequestWith(ctx, h)
	if err != nil {
		panic(err)
	}
	for _, fp := range fresp.Groups[0].Topics[0].Partitions {
		fmt.Printf("orders/%d: offset %d, leader epoch %d, metadata %q\n", fp.Partition, fp.Offset, fp.LeaderEpoch, *fp.Metadata)
	}
	// Output:
	// commit: <nil>
	// orders/0: offset 42, leader epoch 3, metadata ""
	// orders/1: offset -1, leader epoch -1, metadata ""
}

// HandleBody fits a gateway whose own codec splits frames into key, version and body, such as
// SeaweedFS's: body bytes in, response body bytes out.
func ExampleHandler_HandleBody() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	h := protocol.New(store, protocol.Options{})

	// What a client sends as the body of an OffsetCommit v2 request.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group = "g"
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = "t"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Offset = 7
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)

	body, err := h.HandleBody(ctx, req.Key(), req.Version, req.AppendTo(nil))
	if err != nil {
		panic(err) // ErrUnsupported or ErrMalformed: close the connection
	}
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = 2
	if err := resp.ReadFrom(body); err != nil {
		panic(err)
	}
	fmt.Println(resp.Topics[0].Topic, resp.Topics[0].Partitions[0].ErrorCode)

	_, err = h.HandleBody(ctx, 28, 0, nil) // TxnOffsetCommit is not served
	fmt.Println(errors.Is(err, protocol.ErrUnsupported))
	// Output:
	// t 0
	// true
}

// A gateway's connection loop: frames in, frames out, with the header functions used for
// every API key. It answers ApiVersions itself (and, for a version it does not serve, with
// Kafka's fallback), hands the keys the Handler serves to Handle, and closes the connection
// on any Go error, as Kafka does. Here one connection runs over an in-memory pipe.
func ExampleReadRequest() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	h := protocol.New(store, protocol.Options{}) // a gateway with consumer groups sets Groups

	// What the gateway advertises: its own APIs (here only ApiVersions) and the Handler's.
	advertised := append([]kmsg.ApiVersionsResponseApiKey{
		{ApiKey: int16(kmsg.ApiVersions), MinVersion: 0, MaxVersion: 3},
	}, h.APIVersions()...)
	served := make(map[int16]bool) // the keys the Handler serves
	for _, k := range h.APIVersions() {
		served[k.ApiKey] = true
	}

	client, server := net.Pipe()
	defer client.Close()
	go func() { // the gateway's loop for one connection
		defer server.Close()
		var buf, out []byte
		for {
			frame, err := protocol.ReadFrame(server, buf, 0)
			if err != nil {
				return // io.EOF: the client left; anything else: close
			}
			buf = frame
			hdr, req, err := protocol.ReadRequest(frame)
			var resp kmsg.Response
			if fallback, ok := protocol.APIVersionsFallback(hdr, err, advertised); ok {
				resp = fallback // an ApiVersions version this gateway does not serve
			} else if err != nil {
				return // unknown key or version, malformed bytes: close, as Kafka does
			} else if kmsg.Key(hdr.Key) == kmsg.ApiVersions {
				r := req.ResponseKind().(*kmsg.ApiVersionsResponse)
				r.ApiKeys = advertised
				resp = r
			} else if served[hdr.Key] {
				if resp, err = h.Handle(ctx, req); err != nil {
					return // ErrUnsupported (a version not served) or ErrMalformed: close
				}
			} else {
				return // a key this gateway does not serve: close
			}
			out = protocol.AppendResponse(out[:0], hdr, resp)
			if _, err := server.Write(out); err != nil {
				return
			}
		}
	}()

	// The client side: ApiVersions v3, then an OffsetFetch v6 (flexible) for a group with
	// nothing committed.
	format := kmsg.NewRequestFormatter(kmsg.FormatterClientID("example"))
	roundTrip := func(req kmsg.Request, corr int32) kmsg.Response {
		if _, err := client.Write(format.AppendRequest(nil, req, corr)); err != nil {
			panic(err)
		}
		frame, err := protocol.ReadFrame(client, nil, 0)
		if err != nil {
			panic(err)
		}
		_, resp, err := protocol.ReadResponse(frame, req)
		if err != nil {
			panic(err)
		}
		return resp
	}
	versions := kmsg.NewPtrApiVersionsRequest()
	versions.Version = 3
	for _, k := range roundTrip(versions, 1).(*kmsg.ApiVersionsResponse).ApiKeys {
		fmt.Printf("%s v%d-v%d\n", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 6
	fetch.Group = "new-group"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "t", []int32{0}
	fetch.Topics = append(fetch.Topics, ft)
	fp := roundTrip(fetch, 2).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]
	fmt.Println(fp.Offset, fp.LeaderEpoch, *fp.Metadata == "", fp.ErrorCode)
	// Output:
	// ApiVersions v0-v3
	// OffsetCommit v0-v9
	// OffsetFetch v0-v9
	// OffsetDelete v0-v0
	// -1 -1 true 0
}

// A client opens a connection with ApiVersions at the newest version it knows. A gateway that
// does not serve that version answers at v0 with UNSUPPORTED_VERSION and its own ApiVersions
// range, and keeps the connection, so the client retries at a version both know.
func ExampleAPIVersionsFallback() {
	advertised := []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: int16(kmsg.ApiVersions), MinVersion: 0, MaxVersion: 3},
		{ApiKey: int16(kmsg.OffsetCommit), MinVersion: 0, MaxVersion: 9},
	}
	// The start of an ApiVersions v99 frame: key, version, correlation id, client id.
	frame := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff, 0}
	hdr, _, err := protocol.ReadRequest(frame)
	fmt.Println(errors.Is(err, protocol.ErrUnsupported))
	resp, ok := protocol.APIVersionsFallback(hdr, err, advertised)
	fmt.Println(ok, resp.GetVersion(), kerr.ErrorForCode(resp.ErrorCode) == kerr.UnsupportedVersion, resp.ApiKeys[0].MaxVersion)
	out := protocol.AppendResponse(nil, hdr, resp)
	fmt.Println(len(out)-4, "bytes after the size")
	// Output:
	// true
	// true 0 true 3
	// 16 bytes after the size
}

// A GroupValidator plugs the gateway's group coordinator in: here every group with a member
// named "busy" is mid-rebalance, and other groups have no members, so the Handler applies
// Kafka's rules for those itself.
func ExampleGroupValidatorFunc() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	h := protocol.New(store, protocol.Options{
		Groups: protocol.GroupValidatorFunc(func(_ context.Context, req protocol.GroupRequest) (protocol.GroupResult, error) {
			if req.MemberID != nil && *req.MemberID == "busy" {
				return protocol.GroupResult{}, kerr.RebalanceInProgress
			}
			return protocol.GroupResult{}, protocol.ErrNoActiveGroup
		}),
	})
	commit := func(gen int32, member string) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation, req.MemberID = 9, "g", gen, member
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "t"
		t.Partitions = append(t.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
		req.Topics = append(req.Topics, t)
		resp, err := h.OffsetCommit(ctx, req)
		if err != nil {
			panic(err)
		}
		fmt.Printf("gen %d member %q: %v\n", gen, member, kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	commit(3, "busy")
	commit(3, "m1") // no such group yet: v9 says GROUP_ID_NOT_FOUND
	commit(-1, "")  // an admin commit creates the group
	commit(3, "m1") // now an Empty group without that member
	// Output:
	// gen 3 member "busy": REBALANCE_IN_PROGRESS: The group is rebalancing, so a rejoin is needed.
	// gen 3 member "m1": GROUP_ID_NOT_FOUND: The group id does not exist.
	// gen -1 member "": <nil>
	// gen 3 member "m1": UNKNOWN_MEMBER_ID: The coordinator is not aware of this member.
}

// StoreErrorCode is exported so that an embedder can extend it through Options.ErrorCode.
func ExampleStoreErrorCode() {
	errTooBig := errors.New("value too large for the backend")
	opts := protocol.Options{
		ErrorCode: func(apiKey int16, err error) int16 {
			if errors.Is(err, errTooBig) {
				return kerr.InvalidCommitOffsetSize.Code
			}
			return 0 // the default: StoreErrorCode or FetchErrorCode
		},
	}
	_ = opts
	fmt.Println(kerr.ErrorForCode(protocol.StoreErrorCode(context.DeadlineExceeded)))
	fmt.Println(kerr.ErrorForCode(protocol.FetchErrorCode(context.DeadlineExceeded)))
	// Output:
	// COORDINATOR_NOT_AVAILABLE: The coordinator is not available.
	// NOT_COORDINATOR: This is not the correct coordinator.
}

// An Observer sees every request once, with its error codes counted: here a commit whose
// metadata is too large on two of its three partitions. A gateway would feed a metrics library
// instead of printing.
func ExampleObserverFunc() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	h := protocol.New(store, protocol.Options{
		MaxMetadataBytes: 8,
		Observer: protocol.ObserverFunc(func(_ context.Context, ev protocol.RequestEvent) {
			fmt.Printf("key %d v%d err=%v store_err=%v\n", ev.Key, ev.Version, ev.Err, ev.StoreErr)
			for _, e := range ev.Errors { // valid only during the call: copy to keep
				name := "UNKNOWN"
				if ke, ok := kerr.ErrorForCode(e.Code).(*kerr.Error); ok {
					name = ke.Message
				}
				fmt.Printf("  %s x%d\n", name, e.Count)
			}
		}),
	})

	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group = 9, "g"
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = "orders"
	for i, md := range []string{"way too long", "ok", "also far too long"} {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.Metadata = int32(i), 100, &md
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	if _, err := h.HandleBody(ctx, req.Key(), req.Version, req.AppendTo(nil)); err != nil {
		panic(err)
	}
	_, err := h.HandleBody(ctx, kmsg.OffsetFetch.Int16(), 42, nil) // a version nobody serves
	fmt.Println("returned:", errors.Is(err, protocol.ErrUnsupported))
	// Output:
	// key 8 v9 err=<nil> store_err=<nil>
	//   OFFSET_METADATA_TOO_LARGE x2
	// key 9 v42 err=protocol: unsupported API key or version: key 9 version 42 store_err=<nil>
	// returned: true
}
