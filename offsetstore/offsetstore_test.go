package offsetstore_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

func TestNormalize(t *testing.T) {
	zone := time.FixedZone("X", -7*3600)
	tests := []struct {
		name       string
		in         time.Time
		wantZero   bool
		wantMillis int64
	}{
		{"zero stays zero", time.Time{}, true, 0},
		{"sub-millisecond digits are dropped", time.UnixMilli(1700000000123).Add(999999), false, 1700000000123},
		{"zone is dropped", time.UnixMilli(1700000000001).In(zone), false, 1700000000001},
		{"monotonic reading is dropped", time.Now(), false, 0},
		{"before 1970", time.UnixMilli(-1500), false, -1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := offsetstore.Normalize(offsetstore.Offset{CommitTime: tt.in, ExpireTime: tt.in})
			for _, got := range []time.Time{o.CommitTime, o.ExpireTime} {
				if got.IsZero() != tt.wantZero {
					t.Fatalf("IsZero = %v, want %v", got.IsZero(), tt.wantZero)
				}
				if tt.wantZero {
					continue
				}
				if got.Location() != time.UTC || got.Nanosecond()%int(time.Millisecond) != 0 {
					t.Errorf("got %v; want UTC, whole milliseconds", got)
				}
				if got != got.Round(0) {
					t.Errorf("got %v; want no monotonic reading", got)
				}
				if tt.wantMillis != 0 && got.UnixMilli() != tt.wantMillis {
					t.Errorf("UnixMilli = %d, want %d", got.UnixMilli(), tt.wantMillis)
				}
				if !got.Equal(time.UnixMilli(tt.in.UnixMilli())) {
					t.Errorf("got %v; want %v", got, time.UnixMilli(tt.in.UnixMilli()))
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		tps  []offsetstore.TopicPartition
		bad  bool
	}{
		{"none", nil, false},
		{"zero and max", []offsetstore.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "", Partition: math.MaxInt32}}, false},
		{"minus one", []offsetstore.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: -1}}, true},
		{"min int32", []offsetstore.TopicPartition{{Topic: "t", Partition: math.MinInt32}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[offsetstore.TopicPartition]offsetstore.Offset{}
			for _, tp := range tt.tps {
				m[tp] = offsetstore.Offset{}
			}
			for name, err := range map[string]error{
				"ValidatePartitions": offsetstore.ValidatePartitions(tt.tps),
				"ValidateOffsets":    offsetstore.ValidateOffsets(m),
			} {
				if got := errors.Is(err, offsetstore.ErrInvalid); got != tt.bad {
					t.Errorf("%s = %v; want ErrInvalid: %v", name, err, tt.bad)
				}
				if !tt.bad && err != nil {
					t.Errorf("%s = %v; want nil", name, err)
				}
			}
		})
	}
}

func TestCompare(t *testing.T) {
	a0 := offsetstore.TopicPartition{Topic: "a", Partition: 0}
	a9 := offsetstore.TopicPartition{Topic: "a", Partition: 9}
	b0 := offsetstore.TopicPartition{Topic: "b", Partition: 0}
	tests := []struct {
		x, y offsetstore.TopicPartition
		want int
	}{
		{a0, a0, 0}, {a0, a9, -1}, {a9, a0, 1}, {a9, b0, -1}, {b0, a0, 1},
	}
	for _, tt := range tests {
		if got := offsetstore.Compare(tt.x, tt.y); got != tt.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", tt.x, tt.y, got, tt.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := error(&offsetstore.Error{Op: "Commit", Group: "a/b", Err: offsetstore.ErrClosed})
	var serr *offsetstore.Error
	if !errors.Is(err, offsetstore.ErrClosed) || !errors.As(err, &serr) || serr.Op != "Commit" {
		t.Fatalf("errors.Is/As do not see through %v", err)
	}
	if got, want := err.Error(), `offsetstore: Commit group "a/b": offsetstore: store is closed`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&offsetstore.Error{Op: "Fetch"}).Error(); got != `offsetstore: Fetch group "": <nil>` {
		t.Errorf("Error() with nil Err = %q", got)
	}
}
