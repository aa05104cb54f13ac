package server

import (
	"bytes"
	"encoding/hex"
	"io"
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

// slowReader returns its data, then blocks-as-EOF: it stands for a peer that declares a large
// frame and sends little of it.
type slowReader struct{ data []byte }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadFrameGrowsWithData: a declared size allocates nothing large by itself; memory follows
// the bytes that actually arrive.
func TestReadFrameGrowsWithData(t *testing.T) {
	buf, err := readFrame(&slowReader{data: make([]byte, 100)}, nil, 15<<20)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.LessOrEqual(t, cap(buf), 64<<10)

	data := bytes.Repeat([]byte{7}, 200_000)
	buf, err = readFrame(&slowReader{data: data}, nil, len(data))
	require.NoError(t, err)
	require.Equal(t, data, buf)

	small := make([]byte, 0, 16)
	buf, err = readFrame(&slowReader{data: []byte("0123456789")}, small, 10)
	require.NoError(t, err)
	require.Equal(t, "0123456789", string(buf))
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
