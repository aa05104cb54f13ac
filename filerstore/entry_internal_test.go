package filerstore

import (
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// FuzzDecodeOffset feeds arbitrary offset-file content to the decoder: it never panics, and
// whatever it accepts re-encodes to a document that decodes to the same offset.
func FuzzDecodeOffset(f *testing.F) {
	for _, s := range []string{
		`{"type":"offset","value":42,"committed_at":1760000000000,"metadata":""}`,
		`{"type":"offset","value":-1,"committed_at":0,"metadata":"m","leader_epoch":7,"expire_at":5}`,
		`{"type":"offset","value":1,"metadata":"\ufffd","metadata_b64":"/w=="}`,
		`{"type":"timestamp","value":1}`, `{}`, `null`, `[]`, `42`, ``,
		`{"type":"offset","value":1e30}`, `{"type":"offset","value":1,"leader_epoch":99999999999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		o, err := decodeOffset(content)
		if err != nil {
			return
		}
		again, err := encodeOffset(o)
		if err != nil {
			t.Fatalf("encode of decoded %+v: %v", o, err)
		}
		o2, err := decodeOffset(again)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", again, err)
		}
		if !sameOffset(o, o2) {
			t.Fatalf("%s decoded to %+v, re-encoded as %s, decoded to %+v", content, o, again, o2)
		}
	})
}

// FuzzOffsetRoundTrip: every Offset, metadata of any bytes included, survives the JSON
// document, with times kept to the millisecond.
func FuzzOffsetRoundTrip(f *testing.F) {
	f.Add(int64(42), int32(-1), "", int64(1760000000123), int64(0))
	f.Add(int64(-7), int32(5), "\xff\x00é", int64(-1), int64(1760086400000))
	f.Fuzz(func(t *testing.T, offset int64, epoch int32, metadata string, commitMs, expireMs int64) {
		in := offsetstore.Offset{Offset: offset, LeaderEpoch: epoch, Metadata: metadata}
		if commitMs != 0 {
			in.CommitTime = time.UnixMilli(commitMs)
		}
		if expireMs != 0 {
			in.ExpireTime = time.UnixMilli(expireMs)
		}
		content, err := encodeOffset(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := decodeOffset(content)
		if err != nil {
			t.Fatalf("decode %s: %v", content, err)
		}
		if !sameOffset(out, offsetstore.Normalize(in)) {
			t.Fatalf("%+v came back as %+v", in, out)
		}
	})
}

func sameOffset(a, b offsetstore.Offset) bool {
	return a.Offset == b.Offset && a.LeaderEpoch == b.LeaderEpoch && a.Metadata == b.Metadata &&
		a.CommitTime.Equal(b.CommitTime) && a.ExpireTime.Equal(b.ExpireTime)
}
