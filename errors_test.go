package offsetkit_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/migrate"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainStore hides the optional capabilities of a store.
type plainStore struct{ offsetstore.Store }

// TestErrorMessages checks the rendered text of the errors every root package returns, apart
// from the storetest suite (which checks only what errors match): one package prefix, the
// operation and group from *offsetstore.Error, the sentinel last, and the sentinels the
// errors match.
func TestErrorMessages(t *testing.T) {
	ctx := context.Background()
	closed := memstore.New(memstore.Options{})
	require.NoError(t, closed.Close())
	closedMigrate := migrate.New(memstore.New(memstore.Options{}), memstore.New(memstore.Options{}), migrate.Options{})
	require.NoError(t, closedMigrate.Close())
	open := memstore.New(memstore.Options{})
	t.Cleanup(func() { open.Close() })
	h := protocol.New(open, protocol.Options{})
	neg := offsetstore.TopicPartition{Topic: "t", Partition: -1}

	cases := []struct {
		name  string
		err   error
		want  string
		match []error
	}{
		{
			name:  "memstore closed",
			err:   func() error { _, err := closed.FetchAll(ctx, "g"); return err }(),
			want:  `offsetstore: FetchAll group "g": store is closed`,
			match: []error{offsetstore.ErrClosed},
		},
		{
			name:  "memstore DeleteGroup of nothing",
			err:   open.DeleteGroup(ctx, "billing"),
			want:  `offsetstore: DeleteGroup group "billing": group not found`,
			match: []error{offsetstore.ErrGroupNotFound},
		},
		{
			name:  "memstore negative partition",
			err:   open.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{neg: {}}),
			want:  `offsetstore: Commit group "g": invalid argument: negative partition -1 of topic "t"`,
			match: []error{offsetstore.ErrInvalid},
		},
		{
			name:  "migrate closed",
			err:   closedMigrate.Delete(ctx, "g", nil),
			want:  `offsetstore: Delete group "g": store is closed`,
			match: []error{offsetstore.ErrClosed},
		},
		{
			name:  "retention without an Expirer",
			err:   func() error { _, err := retention.New(plainStore{open}, retention.Options{}); return err }(),
			want:  "retention: store does not implement offsetstore.Expirer: unsupported operation",
			match: []error{retention.ErrUnsupported, errors.ErrUnsupported},
		},
		{
			name:  "protocol unserved key",
			err:   func() error { _, err := h.HandleBody(ctx, 3, 0, nil); return err }(),
			want:  "protocol: unsupported API key or version: key 3 version 0",
			match: []error{protocol.ErrUnsupported, errors.ErrUnsupported},
		},
		{
			name:  "protocol nil request to Handle",
			err:   func() error { _, err := h.Handle(ctx, nil); return err }(),
			want:  "protocol: malformed request: nil request",
			match: []error{protocol.ErrMalformed},
		},
		{
			name:  "protocol nil request to OffsetCommit",
			err:   func() error { _, err := h.OffsetCommit(ctx, nil); return err }(),
			want:  "protocol: malformed request: nil request",
			match: []error{protocol.ErrMalformed},
		},
		{
			name:  "protocol oversized frame",
			err:   func() error { _, err := protocol.ReadFrame(bytes.NewReader([]byte{0, 0, 1, 0}), nil, 16); return err }(),
			want:  "protocol: malformed request: frame size 256 (limit 16)",
			match: []error{protocol.ErrMalformed},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.err)
			assert.Equal(t, tc.want, tc.err.Error())
			for _, m := range tc.match {
				assert.ErrorIs(t, tc.err, m)
			}
		})
	}
	assert.NotErrorIs(t, protocol.ErrMalformed, errors.ErrUnsupported, "a malformed request is not an unsupported one")
}
