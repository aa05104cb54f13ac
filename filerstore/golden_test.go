package filerstore_test

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// gatewayPosition is the SeaweedFS Kafka gateway's KafkaConsumerPosition
// (weed/mq/kafka/consumer_offset/filer_storage.go), the document it stores.
type gatewayPosition struct {
	Type        string `json:"type"`
	Value       int64  `json:"value"`
	CommittedAt int64  `json:"committed_at"`
	Metadata    string `json:"metadata"`
}

// gatewayCommit writes one offset exactly as the gateway's FilerStorage.CommitOffset does:
// the same path, JSON and attributes, with one CreateEntry.
func gatewayCommit(t *testing.T, root, group, topic string, partition int32, offset int64, metadata string, committedAt time.Time) {
	t.Helper()
	data, err := json.Marshal(&gatewayPosition{Type: "offset", Value: offset, CommittedAt: committedAt.UnixMilli(), Metadata: metadata})
	if err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("%s/%s/%s/%d", root, group, topic, partition)
	entry := &filer_pb.Entry{
		Name:        "offset",
		IsDirectory: false,
		Attributes: &filer_pb.FuseAttributes{
			Crtime:   time.Now().Unix(),
			Mtime:    time.Now().Unix(),
			FileMode: 0644,
			FileSize: uint64(len(data)),
		},
		Chunks: []*filer_pb.FileChunk{},
	}
	if len(data) > 0 {
		entry.Content = data
	}
	if err := filer_pb.CreateEntry(testCtx(t), filerClient(t), &filer_pb.CreateEntryRequest{Directory: dir, Entry: entry}); err != nil {
		t.Fatal(err)
	}
}

// gatewayFetch reads one offset exactly as the gateway's FilerStorage.FetchOffset does.
func gatewayFetch(t *testing.T, root, group, topic string, partition int32) (gatewayPosition, *filer_pb.Entry) {
	t.Helper()
	resp, err := filerClient(t).LookupDirectoryEntry(testCtx(t), &filer_pb.LookupDirectoryEntryRequest{
		Directory: fmt.Sprintf("%s/%s/%s/%d", root, group, topic, partition),
		Name:      "offset",
	})
	if err != nil {
		t.Fatal(err)
	}
	var p gatewayPosition
	if err := json.Unmarshal(resp.Entry.Content, &p); err != nil {
		t.Fatal(err)
	}
	return p, resp.Entry
}

// TestGoldenGatewayData writes offsets the way the SeaweedFS gateway does today and reads
// them through the store: every API sees them, with leader epoch -1 and the gateway's
// committed_at as CommitTime.
func TestGoldenGatewayData(t *testing.T) {
	ctx := testCtx(t)
	root := newRoot(t)
	at := time.UnixMilli(1760000000123).UTC()
	gatewayCommit(t, root, "billing", "orders", 0, 42, "", at)
	gatewayCommit(t, root, "billing", "orders", 7, 1000, "client-meta", at)
	gatewayCommit(t, root, "billing", "payments.v2", 3, 0, "ünï", at)
	gatewayCommit(t, root, "billing", "payments.v2", 4, -1, "", at) // the gateway accepts -1
	gatewayCommit(t, root, "audit-1", "orders", 0, 5, "", at)

	s := newStore(t, filerstore.Options{Root: root})
	want := map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "orders", Partition: 0}:      {Offset: 42, LeaderEpoch: -1, CommitTime: at},
		{Topic: "orders", Partition: 7}:      {Offset: 1000, LeaderEpoch: -1, Metadata: "client-meta", CommitTime: at},
		{Topic: "payments.v2", Partition: 3}: {Offset: 0, LeaderEpoch: -1, Metadata: "ünï", CommitTime: at},
		{Topic: "payments.v2", Partition: 4}: {Offset: -1, LeaderEpoch: -1, CommitTime: at},
	}
	all, err := s.FetchAll(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, "FetchAll", all, want)

	keys := offsetstore.SortedPartitions(want)
	keys = append(keys, offsetstore.TopicPartition{Topic: "orders", Partition: 1}) // never committed
	got, err := s.Fetch(ctx, "billing", keys)
	if err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, "Fetch", got, want)

	one, ok, err := offsetstore.FetchOne(ctx, s, "billing", offsetstore.TopicPartition{Topic: "orders", Partition: 7})
	if err != nil || !ok || one != want[offsetstore.TopicPartition{Topic: "orders", Partition: 7}] {
		t.Fatalf("FetchOne = %+v, %v, %v", one, ok, err)
	}

	groups, err := s.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"audit-1", "billing"}) {
		t.Fatalf("ListGroups = %q", groups)
	}
}

// TestGoldenStoreWritesGatewayFormat commits through the store and reads the entry the way
// the gateway does: same path, same attributes (plus the content's MD5), a JSON document the
// gateway decodes, which begins with the gateway's own four fields in its order.
func TestGoldenStoreWritesGatewayFormat(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	at := time.UnixMilli(1760000000456).UTC()
	exp := time.UnixMilli(1760086400456).UTC()
	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 12}
	if err := offsetstore.CommitOne(ctx, s, "billing", tp, offsetstore.Offset{Offset: 99, LeaderEpoch: 4, Metadata: `m"<&>`, CommitTime: at, ExpireTime: exp}); err != nil {
		t.Fatal(err)
	}
	p, e := gatewayFetch(t, s.Root(), "billing", "orders", 12)
	if p != (gatewayPosition{Type: "offset", Value: 99, CommittedAt: at.UnixMilli(), Metadata: `m"<&>`}) {
		t.Fatalf("gateway reads %+v", p)
	}
	wantJSON := `{"type":"offset","value":99,"committed_at":1760000000456,"metadata":"m\"\u003c\u0026\u003e","leader_epoch":4,"expire_at":1760086400456}`
	if string(e.Content) != wantJSON {
		t.Fatalf("content\n got %s\nwant %s", e.Content, wantJSON)
	}
	if sum := md5.Sum(e.Content); !bytes.Equal(e.Attributes.Md5, sum[:]) {
		t.Fatalf("md5 attribute %x, want the content's %x", e.Attributes.Md5, sum)
	}
	if e.IsDirectory || len(e.Chunks) != 0 || e.Attributes.FileMode != 0644 || e.Attributes.FileSize != uint64(len(e.Content)) {
		t.Fatalf("entry attributes %+v, %d chunks", e.Attributes, len(e.Chunks))
	}
	if d := time.Since(time.Unix(e.Attributes.Mtime, 0)); d < -time.Minute || d > time.Minute {
		t.Fatalf("mtime %d is not now", e.Attributes.Mtime)
	}
}

// TestGoldenUnreadableEntries: an offset entry the store cannot read is an error, never "no
// offset", in Fetch and FetchAll alike.
func TestGoldenUnreadableEntries(t *testing.T) {
	tests := []struct {
		name  string
		entry *filer_pb.Entry
	}{
		{"chunked", &filer_pb.Entry{Name: "offset", Attributes: &filer_pb.FuseAttributes{FileMode: 0644}, Chunks: []*filer_pb.FileChunk{{FileId: "3,01637037d6", Size: 10}}}},
		{"not JSON", &filer_pb.Entry{Name: "offset", Content: []byte("42"), Attributes: &filer_pb.FuseAttributes{FileMode: 0644}}},
		{"empty", &filer_pb.Entry{Name: "offset", Attributes: &filer_pb.FuseAttributes{FileMode: 0644}}},
		{"other type", &filer_pb.Entry{Name: "offset", Content: []byte(`{"type":"timestamp","value":1}`), Attributes: &filer_pb.FuseAttributes{FileMode: 0644}}},
		{"no value", &filer_pb.Entry{Name: "offset", Content: []byte(`{"type":"offset"}`), Attributes: &filer_pb.FuseAttributes{FileMode: 0644}}},
		{"directory", &filer_pb.Entry{Name: "offset", IsDirectory: true, Attributes: &filer_pb.FuseAttributes{FileMode: 0755 | 1<<31}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := newStore(t, filerstore.Options{})
			good := offsetstore.TopicPartition{Topic: "t", Partition: 0}
			bad := offsetstore.TopicPartition{Topic: "t", Partition: 1}
			if err := offsetstore.CommitOne(ctx, s, "g", good, offsetstore.Offset{Offset: 1, LeaderEpoch: -1}); err != nil {
				t.Fatal(err)
			}
			if err := filer_pb.CreateEntry(ctx, filerClient(t), &filer_pb.CreateEntryRequest{Directory: s.Root() + "/g/t/1", Entry: tt.entry}); err != nil {
				t.Fatal(err)
			}
			for _, parts := range [][]offsetstore.TopicPartition{{bad}, {good, bad}} {
				m, err := s.Fetch(ctx, "g", parts)
				assertStoreError(t, "Fetch", m, err)
			}
			m, err := s.FetchAll(ctx, "g")
			assertStoreError(t, "FetchAll", m, err)
		})
	}
}

func assertStoreError(t *testing.T, op string, m map[offsetstore.TopicPartition]offsetstore.Offset, err error) {
	t.Helper()
	var se *offsetstore.Error
	if err == nil || m != nil || !errors.As(err, &se) || se.Op != op {
		t.Fatalf("%s = %v, %v; want an *offsetstore.Error and no result", op, m, err)
	}
	if !strings.Contains(err.Error(), "offset") {
		t.Fatalf("%s error %q does not name the entry", op, err)
	}
}

func assertOffsets(t *testing.T, what string, got, want map[offsetstore.TopicPartition]offsetstore.Offset) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d offsets, want %d: %v", what, len(got), len(want), got)
	}
	for tp, w := range want {
		g, ok := got[tp]
		if !ok {
			t.Errorf("%s: %v missing", what, tp)
			continue
		}
		if g.Offset != w.Offset || g.LeaderEpoch != w.LeaderEpoch || g.Metadata != w.Metadata || !g.CommitTime.Equal(w.CommitTime) || !g.ExpireTime.Equal(w.ExpireTime) {
			t.Errorf("%s: %v = %+v, want %+v", what, tp, g, w)
		}
	}
}
