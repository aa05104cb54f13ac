package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// scaleTopics are the topics of every scale group; the group's partitions are spread over them.
var scaleTopics = []string{"orders", "payments", "clicks", "audit"}

// scaleConfig configures a scale run over one store.
type scaleConfig struct {
	Store       offsetstore.Store
	Groups      int // groups committed
	Partitions  int // partitions per group, over scaleTopics
	Concurrency int // concurrent store calls
}

// phase is the timing of one phase of a scale run.
type phase struct {
	Calls    int
	Total    time.Duration // wall time of the phase
	P50, P99 time.Duration // per-call latency
	Max      time.Duration
}

// perSecond returns the offsets per second a phase moved.
func (p phase) perSecond(offsets int) float64 {
	if p.Total <= 0 {
		return 0
	}
	return float64(offsets) / p.Total.Seconds()
}

// scaleReport is the outcome of a scale run.
type scaleReport struct {
	Groups, Partitions, Concurrency int
	Commit                          phase // one Commit of all of a group's partitions per group
	FetchAll                        phase // one FetchAll per group, every value checked
	ListGroups                      phase // ListGroups of every group, repeated
	Listed                          int   // groups the last ListGroups returned
}

// scaleKeys returns the partitions of a scale group.
func scaleKeys(partitions int) []offsetstore.TopicPartition {
	keys := make([]offsetstore.TopicPartition, partitions)
	for i := range keys {
		keys[i] = offsetstore.TopicPartition{Topic: scaleTopics[i%len(scaleTopics)], Partition: int32(i / len(scaleTopics))}
	}
	return keys
}

// scaleOffset is the offset committed for group g's i-th partition.
func scaleOffset(g, i int) int64 { return int64(g)*1_000_000 + int64(i)*7 + 1 }

// scaleGroup names the g-th scale group.
func scaleGroup(g int) string { return fmt.Sprintf("scale-%05d", g) }

// runScale commits cfg.Groups groups of cfg.Partitions partitions each, fetches every group
// back and checks every value, and lists the groups.
func runScale(ctx context.Context, cfg scaleConfig) (*scaleReport, error) {
	rep := &scaleReport{Groups: cfg.Groups, Partitions: cfg.Partitions, Concurrency: max(1, cfg.Concurrency)}
	keys := scaleKeys(cfg.Partitions)
	now := time.Now()
	var err error
	rep.Commit, err = timed(ctx, cfg.Groups, rep.Concurrency, func(ctx context.Context, g int) error {
		batch := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(keys))
		for i, k := range keys {
			batch[k] = offsetstore.Offset{Offset: scaleOffset(g, i), LeaderEpoch: 3, Metadata: "scale", CommitTime: now}
		}
		return cfg.Store.Commit(ctx, scaleGroup(g), batch)
	})
	if err != nil {
		return rep, fmt.Errorf("commit: %w", err)
	}
	rep.FetchAll, err = timed(ctx, cfg.Groups, rep.Concurrency, func(ctx context.Context, g int) error {
		got, err := cfg.Store.FetchAll(ctx, scaleGroup(g))
		if err != nil {
			return err
		}
		if len(got) != len(keys) {
			return fmt.Errorf("%s: FetchAll returned %d offsets, want %d", scaleGroup(g), len(got), len(keys))
		}
		for i, k := range keys {
			if o, ok := got[k]; !ok || o.Offset != scaleOffset(g, i) || o.LeaderEpoch != 3 || o.Metadata != "scale" {
				return fmt.Errorf("%s %v: read %+v (present %v), want offset %d", scaleGroup(g), k, o, ok, scaleOffset(g, i))
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fetch-all: %w", err)
	}
	var listed []string
	rep.ListGroups, err = timed(ctx, 5, 1, func(ctx context.Context, _ int) error {
		var err error
		listed, err = cfg.Store.ListGroups(ctx)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("list-groups: %w", err)
	}
	rep.Listed = len(listed)
	slices.Sort(listed)
	for g := range cfg.Groups {
		if _, ok := slices.BinarySearch(listed, scaleGroup(g)); !ok {
			return rep, fmt.Errorf("list-groups: %s missing", scaleGroup(g))
		}
	}
	return rep, nil
}

// timed runs fn(0..n-1) on conc workers and returns the wall time and latency percentiles;
// the first error stops the run.
func timed(ctx context.Context, n, conc int, fn func(context.Context, int) error) (phase, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	p := phase{Calls: n, Total: time.Since(start)}
	if firstErr != nil {
		return p, firstErr
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	slices.Sort(lat)
	p.P50, p.P99, p.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	return p, nil
}
