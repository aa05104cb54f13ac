package server

import (
	"encoding/hex"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/stretchr/testify/require"
)

func TestParseTopics(t *testing.T) {
	tests := []struct {
		in      string
		want    []Topic
		wantErr bool
	}{
		{in: "t1:3", want: []Topic{{Name: "t1", Partitions: 3, ID: TopicID("t1")}}},
		{in: " a:1 , b.c_d-e:100000,", want: []Topic{{Name: "a", Partitions: 1, ID: TopicID("a")}, {Name: "b.c_d-e", Partitions: 100000, ID: TopicID("b.c_d-e")}}},
		{in: "", want: nil},
		{in: "t1", wantErr: true},
		{in: "t1:0", wantErr: true},
		{in: "t1:-1", wantErr: true},
		{in: "t1:100001", wantErr: true},
		{in: "t1:x", wantErr: true},
		{in: "a/b:1", wantErr: true},
		{in: "..:1", wantErr: true},
		{in: "t1:1,t1:2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTopics(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTopicIDIsStableAndValid(t *testing.T) {
	id := TopicID("t1")
	require.Equal(t, id, TopicID("t1"))
	require.NotEqual(t, id, TopicID("t2"))
	require.NotEqual(t, [16]byte{}, id)
	require.Equal(t, byte(0x80), id[6]&0xf0, "UUID version 8")
	// Pinned so that ids survive restarts and releases: clients cache them.
	require.Equal(t, "5e9f1d7ce34a83a1a96f364c4df15792", hex.EncodeToString(id[:]))
}

func TestNewValidates(t *testing.T) {
	_, err := New(Options{})
	require.Error(t, err)
	store := memstore.New(memstore.Options{})
	defer store.Close()
	_, err = New(Options{Store: store, Topics: []Topic{{Name: "t", Partitions: 1}, {Name: "t", Partitions: 2}}})
	require.Error(t, err)
	_, err = New(Options{Store: store, Topics: []Topic{{Name: "t", Partitions: 0}}})
	require.Error(t, err)
	s, err := New(Options{Store: store, Topics: []Topic{{Name: "t", Partitions: 1}}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
}
