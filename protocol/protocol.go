// Package protocol answers Kafka's consumer-offset APIs (OffsetCommit, OffsetFetch,
// OffsetDelete and TxnOffsetCommit) over any offsetstore.Store, exactly as Apache Kafka does,
// for a gateway that owns its own connection loop.
//
// The Handler is under construction; see hooks.go for the hooks a gateway provides.
package protocol
