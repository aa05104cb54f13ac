package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/offsetkit/offsetkit/protocol"
)

// maxPartitions bounds a topic's partition count in the -topics flag.
const maxPartitions = 100_000

// Topic is a topic the gateway reports in Metadata and accepts offsets for.
type Topic struct {
	Name       string
	Partitions int32
	ID         [16]byte // stable: TopicID(Name)
}

// TopicID returns the stable topic id of a topic name: the first 16 bytes of the name's
// SHA-256, shaped as a version-8 (custom) UUID so that it is never the zero or reserved id.
func TopicID(name string) [16]byte {
	sum := sha256.Sum256([]byte("offsetkit-topic:" + name))
	var id [16]byte
	copy(id[:], sum[:16])
	id[6] = id[6]&0x0f | 0x80 // version 8
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

// ParseTopics parses a comma-separated list of name:partitions, such as "t1:3,orders:12".
// Names follow Kafka's rules (1 to 249 characters of [a-zA-Z0-9._-], not "." or "..") and
// must be unique.
func ParseTopics(s string) ([]Topic, error) {
	var topics []Topic
	seen := make(map[string]bool)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, count, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("topic %q: want name:partitions", item)
		}
		if err := validTopicName(name); err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(count, 10, 32)
		if err != nil || n < 1 || n > maxPartitions {
			return nil, fmt.Errorf("topic %q: partitions must be 1..%d", name, maxPartitions)
		}
		if seen[name] {
			return nil, fmt.Errorf("topic %q listed twice", name)
		}
		seen[name] = true
		topics = append(topics, Topic{Name: name, Partitions: int32(n), ID: TopicID(name)})
	}
	return topics, nil
}

func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("invalid topic name %q", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("invalid topic name %q: only [a-zA-Z0-9._-]", name)
		}
	}
	return nil
}

// catalog is the gateway's fixed topic metadata. It implements protocol.TopicChecker and
// protocol.TopicResolver.
type catalog struct {
	list   []Topic
	byName map[string]*Topic
	byID   map[[16]byte]*Topic
}

func newCatalog(topics []Topic) (*catalog, error) {
	c := &catalog{byName: make(map[string]*Topic), byID: make(map[[16]byte]*Topic)}
	seen := make(map[string]bool)
	for _, t := range topics {
		if err := validTopicName(t.Name); err != nil {
			return nil, err
		}
		if t.Partitions < 1 {
			return nil, fmt.Errorf("topic %q: no partitions", t.Name)
		}
		if t.ID == ([16]byte{}) {
			t.ID = TopicID(t.Name)
		}
		if seen[t.Name] || seen[string(t.ID[:])] {
			return nil, fmt.Errorf("topic %q listed twice", t.Name)
		}
		seen[t.Name], seen[string(t.ID[:])] = true, true
		c.list = append(c.list, t)
	}
	for i := range c.list {
		t := &c.list[i]
		c.byName[t.Name] = t
		c.byID[t.ID] = t
	}
	return c, nil
}

// PartitionCount implements protocol.TopicChecker.
func (c *catalog) PartitionCount(_ context.Context, topic string) (int32, bool) {
	if t := c.byName[topic]; t != nil {
		return t.Partitions, true
	}
	return 0, false
}

// ResolveTopic implements protocol.TopicResolver.
func (c *catalog) ResolveTopic(_ context.Context, ref protocol.TopicRef) (protocol.TopicRef, bool) {
	t := c.byName[ref.Name]
	if ref.Name == "" {
		t = c.byID[ref.ID]
	}
	if t == nil {
		return protocol.TopicRef{}, false
	}
	return protocol.TopicRef{Name: t.Name, ID: t.ID}, true
}
