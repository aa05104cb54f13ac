package offsetstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// CommitOne stores a single offset: a convenience wrapper around Store.Commit.
func CommitOne(ctx context.Context, s Store, group string, tp TopicPartition, o Offset) error {
	return s.Commit(ctx, group, map[TopicPartition]Offset{tp: o})
}

// FetchOne returns the stored offset of one partition and whether it exists: a convenience
// wrapper around Store.Fetch. A missing offset is (Offset{}, false, nil), never an error.
func FetchOne(ctx context.Context, s Store, group string, tp TopicPartition) (Offset, bool, error) {
	m, err := s.Fetch(ctx, group, []TopicPartition{tp})
	if err != nil {
		return Offset{}, false, err
	}
	o, ok := m[tp]
	return o, ok, nil
}

// SortedPartitions returns the keys of m ordered by topic, then partition.
func SortedPartitions[V any](m map[TopicPartition]V) []TopicPartition {
	out := make([]TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, Compare)
	return out
}

// Compare orders TopicPartitions by topic, then partition, for slices.SortFunc.
func Compare(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// ValidatePartitions returns an error matching ErrInvalid if any partition is negative.
// Backends call it before touching storage.
func ValidatePartitions(partitions []TopicPartition) error {
	for _, tp := range partitions {
		if tp.Partition < 0 {
			return fmt.Errorf("%w: negative partition %d of topic %q", ErrInvalid, tp.Partition, tp.Topic)
		}
	}
	return nil
}

// ValidateFetchInto checks the arguments of FetchIntoer.FetchInto: dst and found must hold at
// least one element per partition, and no partition may be negative. Its error matches
// ErrInvalid.
func ValidateFetchInto(partitions []TopicPartition, dst []Offset, found []bool) error {
	if len(dst) < len(partitions) || len(found) < len(partitions) {
		return fmt.Errorf("%w: FetchInto of %d partitions into %d offsets and %d found flags",
			ErrInvalid, len(partitions), len(dst), len(found))
	}
	return ValidatePartitions(partitions)
}

// ValidateOffsets is ValidatePartitions for the keys of a Commit batch.
func ValidateOffsets(offsets map[TopicPartition]Offset) error {
	for tp := range offsets {
		if tp.Partition < 0 {
			return fmt.Errorf("%w: negative partition %d of topic %q", ErrInvalid, tp.Partition, tp.Topic)
		}
	}
	return nil
}

// Normalize returns o with its times truncated to the millisecond and stripped of monotonic
// clock readings and location (UTC), the form every store returns. A zero time stays zero.
func Normalize(o Offset) Offset {
	o.CommitTime = normTime(o.CommitTime)
	o.ExpireTime = normTime(o.ExpireTime)
	return o
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}
