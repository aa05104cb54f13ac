package filerstore_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// allOps calls every Store method once with ctx and returns their errors by name.
func allOps(ctx context.Context, s offsetstore.Store) map[string]error {
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	tps := []offsetstore.TopicPartition{tp, {Topic: "t", Partition: 1}}
	errs := map[string]error{
		"Commit":      offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 999}),
		"CommitBatch": s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{tps[0]: {Offset: 999}, tps[1]: {Offset: 999}}),
		"Delete":      s.Delete(ctx, "g", tps),
		"DeleteGroup": s.DeleteGroup(ctx, "g"),
	}
	_, errs["Fetch"] = s.Fetch(ctx, "g", tps[:1])
	_, errs["FetchBatch"] = s.Fetch(ctx, "g", tps)
	_, errs["FetchAll"] = s.FetchAll(ctx, "g")
	_, errs["ListGroups"] = s.ListGroups(ctx)
	return errs
}

// TestFilerDown: with weed stopped (connections refused) and then frozen (connections
// open, nothing answers), every method returns an error, bounded by the context deadline.
// After the stop the offsets are exactly those acknowledged before; after the freeze, every
// offset is one that some call wrote (a call that timed out may be applied when the filer
// thaws).
func TestFilerDown(t *testing.T) {
	ctx := testCtx(t)
	srv := weedtest.Start(t)
	s, err := filerstore.Dial(ctx, srv.Addr(), filerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	baseline := map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "t", Partition: 0}: {Offset: 1, LeaderEpoch: -1},
		{Topic: "t", Partition: 1}: {Offset: 2, LeaderEpoch: -1},
	}
	if err := s.Commit(ctx, "g", baseline); err != nil {
		t.Fatal(err)
	}

	const deadline = 2 * time.Second
	check := func(phase string) {
		t.Helper()
		opCtx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		errs := allOps(opCtx, s)
		elapsed := time.Since(start)
		for op, err := range errs {
			if phase == "frozen" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %s = %v, want DeadlineExceeded", phase, op, err)
			}
			var se *offsetstore.Error
			if !errors.As(err, &se) {
				t.Errorf("%s: %s = %v, want an *offsetstore.Error", phase, op, err)
			}
			if errors.Is(err, offsetstore.ErrGroupNotFound) {
				t.Errorf("%s: %s reported a missing group: %v", phase, op, err)
			}
		}
		// All eight calls share one deadline: together they must end soon after it.
		if elapsed > deadline+3*time.Second {
			t.Errorf("%s: calls took %v with a %v deadline", phase, elapsed, deadline)
		}
		t.Logf("%s: all calls failed in %v", phase, elapsed)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	check("stopped")

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Let the store reconnect (gRPC backs off after the outage), so that the next phase
	// meets an open connection to a process that does not answer.
	back := time.Now()
	for {
		got, err := s.FetchAll(ctx, "g")
		if err == nil {
			// Refused connections stored nothing: the offsets are exactly the baseline.
			assertOffsets(t, "after the filer was down", got, baseline)
			break
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("store reconnected %v after the filer answered again", time.Since(back))
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	check("frozen")
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}

	// A call that timed out against the frozen filer may still be applied when it thaws, as
	// the contract allows for any failed call (a failed Commit may have applied any subset).
	// What must not happen is a value that no call wrote.
	got, err := s.FetchAll(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	for tp, o := range got {
		if o.Offset != baseline[tp].Offset && o.Offset != 999 {
			t.Errorf("after the freeze: %v = %+v, which no call wrote", tp, o)
		}
	}
}

// TestUnreachableAddress: a store whose filer address accepts TCP but never speaks gRPC
// fails every call within the context deadline, and a cancel ends a call without a deadline.
func TestUnreachableAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if s, err := filerstore.Dial(short, l.Addr().String(), filerstore.Options{}); err == nil {
		s.Close()
		t.Fatal("Dial of a silent address succeeded")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want DeadlineExceeded", err)
	}

	conn := mustConn(t, l.Addr().String())
	s, err := filerstore.New(conn, filerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opCtx, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	start := time.Now()
	for op, err := range allOps(opCtx, s) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s = %v, want DeadlineExceeded", op, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("calls took %v with a 500ms deadline", d)
	}

	cctx, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel3)
	if _, err := s.FetchAll(cctx, "g"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled FetchAll = %v", err)
	}

	// Close ends calls in flight.
	time.AfterFunc(200*time.Millisecond, func() { s.Close() })
	if _, err := s.FetchAll(context.Background(), "g"); !errors.Is(err, offsetstore.ErrClosed) {
		t.Errorf("FetchAll interrupted by Close = %v", err)
	}
}
