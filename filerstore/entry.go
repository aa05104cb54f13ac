package filerstore

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// offsetFileName is the name of the file holding one partition's offset, as the SeaweedFS
// gateway names it.
const offsetFileName = "offset"

// nameFileName is the marker file kept in a hashed group or topic directory: its content is
// the original name. Escaped names never start with "%n", and partition directories are
// decimal numbers, so it cannot collide with a topic or partition directory.
const nameFileName = "%name"

// position is the JSON document of one offset file. The first four fields are exactly the
// SeaweedFS gateway's KafkaConsumerPosition, in its order; the others are additions that the
// gateway's reader (encoding/json) ignores.
type position struct {
	Type        string `json:"type"`
	Value       *int64 `json:"value"`
	CommittedAt int64  `json:"committed_at"`
	Metadata    string `json:"metadata"`
	// LeaderEpoch is the KIP-320 leader epoch. Entries written by the gateway have none,
	// which reads as -1.
	LeaderEpoch *int32 `json:"leader_epoch,omitempty"`
	// ExpireAt is the explicit expiry (OffsetCommit v2-v4 retention) in unix milliseconds;
	// absent or 0 means none.
	ExpireAt int64 `json:"expire_at,omitempty"`
	// MetadataBase64 holds the metadata bytes when they are not valid UTF-8, which JSON
	// strings cannot carry losslessly; Metadata then holds a lossy copy for old readers.
	MetadataBase64 string `json:"metadata_b64,omitempty"`
	// EpochTimes marks the times that are exactly the Unix epoch ("c" for committed_at, "e"
	// for expire_at), whose 0 would otherwise read as "no time"; absent in every other entry.
	EpochTimes string `json:"epoch_times,omitempty"`
}

// errCorrupt marks an offset file the store cannot read. It is a storage error, never "no
// offset".
var errCorrupt = errors.New("filerstore: unreadable offset entry")

// encodeOffset returns the JSON content of the offset file for o.
func encodeOffset(o offsetstore.Offset) ([]byte, error) {
	v := o.Offset
	epoch := o.LeaderEpoch
	p := position{
		Type:        "offset",
		Value:       &v,
		CommittedAt: unixMilli(o.CommitTime),
		Metadata:    o.Metadata,
		LeaderEpoch: &epoch,
		ExpireAt:    unixMilli(o.ExpireTime),
	}
	if !utf8.ValidString(o.Metadata) {
		p.MetadataBase64 = base64.StdEncoding.EncodeToString([]byte(o.Metadata))
	}
	if isEpoch(o.CommitTime) {
		p.EpochTimes += "c"
	}
	if isEpoch(o.ExpireTime) {
		p.EpochTimes += "e"
	}
	return json.Marshal(&p)
}

// decodeOffset parses the content of an offset file, old (gateway) or new.
func decodeOffset(content []byte) (offsetstore.Offset, error) {
	var p position
	if err := json.Unmarshal(content, &p); err != nil {
		return offsetstore.Offset{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if p.Type != "offset" {
		return offsetstore.Offset{}, fmt.Errorf("%w: type %q", errCorrupt, p.Type)
	}
	if p.Value == nil {
		return offsetstore.Offset{}, fmt.Errorf("%w: no value", errCorrupt)
	}
	o := offsetstore.Offset{
		Offset:      *p.Value,
		LeaderEpoch: -1,
		Metadata:    p.Metadata,
		CommitTime:  fromUnixMilli(p.CommittedAt),
		ExpireTime:  fromUnixMilli(p.ExpireAt),
	}
	if p.LeaderEpoch != nil {
		o.LeaderEpoch = *p.LeaderEpoch
	}
	if strings.Contains(p.EpochTimes, "c") && p.CommittedAt == 0 {
		o.CommitTime = time.UnixMilli(0).UTC()
	}
	if strings.Contains(p.EpochTimes, "e") && p.ExpireAt == 0 {
		o.ExpireTime = time.UnixMilli(0).UTC()
	}
	if p.MetadataBase64 != "" {
		raw, err := base64.StdEncoding.DecodeString(p.MetadataBase64)
		if err != nil {
			return offsetstore.Offset{}, fmt.Errorf("%w: metadata_b64: %v", errCorrupt, err)
		}
		o.Metadata = string(raw)
	}
	return o, nil
}

// entryOffset reads the offset held by a filer entry.
func entryOffset(e *filer_pb.Entry) (offsetstore.Offset, error) {
	if e.IsDirectory {
		return offsetstore.Offset{}, fmt.Errorf("%w: is a directory", errCorrupt)
	}
	if len(e.Chunks) > 0 {
		return offsetstore.Offset{}, fmt.Errorf("%w: chunked files are not supported", errCorrupt)
	}
	return decodeOffset(e.Content)
}

// fileEntry builds a small file entry with inline content and the attributes the SeaweedFS
// gateway sets, plus the content's MD5, which the filer serves as the entry's ETag: the
// conditional deletes of ExpireOffsets compare it.
func fileEntry(name string, content []byte, now time.Time) *filer_pb.Entry {
	sum := md5.Sum(content)
	return &filer_pb.Entry{
		Name:    name,
		Content: content,
		Attributes: &filer_pb.FuseAttributes{
			Crtime:   now.Unix(),
			Mtime:    now.Unix(),
			FileMode: 0o644,
			FileSize: uint64(len(content)),
			Md5:      sum[:],
		},
	}
}

// entryETag is the ETag the filer evaluates IF_ETAG_MATCH conditions against, for the
// entries this store reads: the hex MD5 when the entry has one, else "" (entries written by
// the SeaweedFS gateway).
func entryETag(e *filer_pb.Entry) string {
	if md := e.GetAttributes().GetMd5(); len(md) > 0 {
		return hex.EncodeToString(md)
	}
	return ""
}

// isEpoch reports whether t, kept to the millisecond, is the Unix epoch: a time that unixMilli
// writes as 0, like the zero time, so an entry marks it apart.
func isEpoch(t time.Time) bool { return !t.IsZero() && t.UnixMilli() == 0 }

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
