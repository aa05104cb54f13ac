package main

import (
	"context"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/stretchr/testify/require"
)

// TestScale commits 100 groups of 100 partitions into memstore and into filerstore over a
// real filer, reads every group back with FetchAll (every value checked), and lists the
// groups. The full 1,000 x 100 run is the reliability command's.
func TestScale(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) offsetstore.Store
		conc int
	}{
		{"memstore", func(*testing.T) offsetstore.Store { return memstore.New(memstore.Options{}) }, 4},
		{"filerstore", func(t *testing.T) offsetstore.Store {
			s, err := filerstore.Dial(ctx, sharedWeed(t).Addr(), filerstore.Options{Root: "/offsetkit-reliability/scale-test"})
			require.NoError(t, err)
			return s
		}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			defer func() { require.NoError(t, s.Close()) }()
			rep, err := runScale(ctx, scaleConfig{Store: s, Groups: 100, Partitions: 100, Concurrency: tc.conc})
			require.NoError(t, err)
			require.Equal(t, 100, rep.Listed)
			t.Logf("commit %v, fetch-all %v, list-groups %v", rep.Commit.Total, rep.FetchAll.Total, rep.ListGroups.P50)
		})
	}
}
