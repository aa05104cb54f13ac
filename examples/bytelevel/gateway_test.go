package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func start(t *testing.T) string {
	t.Helper()
	store := memstore.New(memstore.Options{})
	topics, err := parseTopics("t1:3")
	require.NoError(t, err)
	g := newGateway(store, topics, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { g.Serve(ln); close(done) }()
	t.Cleanup(func() {
		g.Close()
		<-done
		store.Close()
	})
	return ln.Addr().String()
}

// TestKadmThroughBodyHandlers: franz-go's admin client commits and fetches through the
// byte-level loop; without a topic-id resolver the gateway serves v9, and kadm adapts.
func TestKadmThroughBodyHandlers(t *testing.T) {
	addr := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: "t1", Partition: 2, At: 77, LeaderEpoch: 3, Metadata: "m"})
	resp, err := adm.CommitOffsets(ctx, "bl", offs)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	fetched, err := adm.FetchOffsets(ctx, "bl")
	require.NoError(t, err)
	o, ok := fetched.Lookup("t1", 2)
	require.True(t, ok)
	require.Equal(t, int64(77), o.At)
	require.Equal(t, int32(3), o.LeaderEpoch)
	require.Equal(t, "m", o.Metadata)
	del, err := adm.DeleteOffsets(ctx, "bl", kadm.TopicsSet{"t1": {2: {}}})
	require.NoError(t, err)
	require.NoError(t, del.Error())
	fetched, err = adm.FetchOffsets(ctx, "bl")
	require.NoError(t, err)
	require.Empty(t, fetched)
}

// TestKafkaGoThroughBodyHandlers: kafka-go (ApiVersions v0, Metadata v8, OffsetCommit v7,
// OffsetFetch v5) against the same loop.
func TestKafkaGoThroughBodyHandlers(t *testing.T) {
	addr := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
	commit, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: "kg", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"t1": {{Partition: 1, Offset: 9}}},
	})
	require.NoError(t, err)
	require.NoError(t, commit.Topics["t1"][0].Error)
	fetched, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kg", Topics: map[string][]int{"t1": {0, 1}}})
	require.NoError(t, err)
	got := map[int]int64{}
	for _, p := range fetched.Topics["t1"] {
		got[p.Partition] = p.CommittedOffset
	}
	require.Equal(t, map[int]int64{0: -1, 1: 9}, got)
}

// TestRawFrames checks the loop's framing: a flexible response carries the header tag byte,
// an ApiVersions version from the future is answered at v0 with UNSUPPORTED_VERSION, and an
// unserved key closes the connection.
func TestRawFrames(t *testing.T) {
	addr := start(t)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	send := func(key kmsg.Key, version int16, corr int32, flexible bool, body []byte) {
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
		if flexible {
			b = append(b, 0)
		}
		b = append(b, body...)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		_, err := c.Write(b)
		require.NoError(t, err)
	}
	recv := func() (int32, []byte, error) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := protocol.ReadFrame(c, nil, 1<<20)
		if err != nil {
			return 0, nil, err
		}
		return int32(binary.BigEndian.Uint32(b)), b[4:], nil
	}

	// ApiVersions newer than kmsg knows (42), and newer than the gateway serves (4).
	for i, v := range []int16{42, 4} {
		send(kmsg.ApiVersions, v, int32(i), true, []byte{0, 0, 0})
		corr, body, err := recv()
		require.NoError(t, err)
		require.Equal(t, int32(i), corr)
		av := kmsg.NewPtrApiVersionsResponse() // v0
		require.NoError(t, av.ReadFrom(body))
		require.Equal(t, kerr.UnsupportedVersion.Code, av.ErrorCode, "v%d", v)
		require.Len(t, av.ApiKeys, 1)
		require.Equal(t, int16(3), av.ApiKeys[0].MaxVersion)
	}

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 7
	fetch.Group = "nobody"
	send(kmsg.OffsetFetch, 7, 2, true, fetch.AppendTo(nil))
	corr, body, err := recv()
	require.NoError(t, err)
	require.Equal(t, int32(2), corr)
	require.Equal(t, byte(0), body[0], "flexible response header: empty tags")
	fr := kmsg.NewPtrOffsetFetchResponse()
	fr.Version = 7
	require.NoError(t, fr.ReadFrom(body[1:]))
	require.Zero(t, fr.ErrorCode)
	require.Empty(t, fr.Topics)

	send(kmsg.Produce, 9, 3, true, bytes.Repeat([]byte{0}, 16)) // not served
	_, _, err = recv()
	require.Error(t, err, "the connection is closed")
}

func TestRunFlags(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"-topics", "bad"}, &out))
	require.Equal(t, 2, run(context.Background(), []string{"-nope"}, &out))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, 0, run(ctx, []string{"-addr", "127.0.0.1:0"}, &out), out.String())
}
