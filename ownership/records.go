package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Registry collections and records the package keeps.
const (
	collConfig = "ownership.config"
	collNodes  = "ownership.nodes"
	collShards = "ownership.shards"

	recConfig = "cluster" // the cluster's shard count
	recIDs    = "ids"     // the next node id to allocate
)

// FirstAllocatedID is the first node id Start allocates when Options.NodeID is 0, as Kafka
// generates broker ids above reserved.broker.max.id (1000).
const FirstAllocatedID = 1001

// MaxNodeID is the largest node id Options.NodeID may give: larger ids are allocated ones.
const MaxNodeID = FirstAllocatedID - 1

// nodeInfo is the value of a member record.
type nodeInfo struct {
	ID   int32  `json:"id"`
	Addr string `json:"addr"`
	// Inc is the member's incarnation: random, new for every Start, so that a restarted
	// process with the same node id is a different owner.
	Inc  string `json:"inc"`
	Beat uint64 `json:"beat"`
}

// shardInfo is the value of a shard record. Owner is noOwner for a released shard.
type shardInfo struct {
	Owner int32  `json:"owner"`
	Inc   string `json:"inc,omitempty"`
	Epoch int64  `json:"epoch"`
}

const noOwner = -1

type configInfo struct {
	Shards int `json:"shards"`
}

type idsInfo struct {
	Next int32 `json:"next"`
}

func shardName(i int) string { return strconv.Itoa(i) }

func nodeName(id int32) string { return strconv.FormatInt(int64(id), 10) }

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ownership: encoding %T: %v", v, err)) // plain structs always encode
	}
	return b
}

// decode parses a record value, naming the record in the error.
func decode(coll string, rec offsetstore.Record, v any) error {
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return fmt.Errorf("ownership: record %s/%s: %w", coll, rec.Name, err)
	}
	return nil
}

// clusterShards returns the cluster's shard count, fixing it to want when the cluster has
// none yet.
func clusterShards(ctx context.Context, reg offsetstore.Registry, want int) (int, error) {
	for range 8 {
		rec, ok, err := reg.Record(ctx, collConfig, recConfig)
		if err != nil {
			return 0, err
		}
		if ok {
			var c configInfo
			if err := decode(collConfig, rec, &c); err != nil {
				return 0, err
			}
			if c.Shards <= 0 || c.Shards > MaxShards {
				return 0, fmt.Errorf("ownership: record %s/%s holds %d shards", collConfig, recConfig, c.Shards)
			}
			return c.Shards, nil
		}
		_, err = reg.PutRecord(ctx, collConfig, recConfig, "", encode(configInfo{Shards: want}))
		if err == nil {
			return want, nil
		}
		if !errors.Is(err, offsetstore.ErrConflict) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("ownership: record %s/%s keeps changing", collConfig, recConfig)
}

// allocateID takes the next node id from the cluster's counter.
func allocateID(ctx context.Context, reg offsetstore.Registry) (int32, error) {
	for range 64 {
		rec, ok, err := reg.Record(ctx, collConfig, recIDs)
		if err != nil {
			return 0, err
		}
		next := idsInfo{Next: FirstAllocatedID}
		if ok {
			if err := decode(collConfig, rec, &next); err != nil {
				return 0, err
			}
			if next.Next < FirstAllocatedID || next.Next == 1<<31-1 {
				return 0, fmt.Errorf("ownership: record %s/%s holds next id %d", collConfig, recIDs, next.Next)
			}
		}
		_, err = reg.PutRecord(ctx, collConfig, recIDs, rec.Rev, encode(idsInfo{Next: next.Next + 1}))
		if err == nil {
			return next.Next, nil
		}
		if !errors.Is(err, offsetstore.ErrConflict) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("ownership: record %s/%s keeps changing", collConfig, recIDs)
}

// idAt returns the id of the member record advertised at addr, or 0 when there is none.
func idAt(ctx context.Context, reg offsetstore.Registry, addr string) (int32, error) {
	recs, err := reg.Records(ctx, collNodes)
	if err != nil {
		return 0, err
	}
	for _, rec := range recs {
		var info nodeInfo
		if decode(collNodes, rec, &info) == nil && info.Addr == addr && info.ID > 0 && nodeName(info.ID) == rec.Name {
			return info.ID, nil
		}
	}
	return 0, nil
}
