// Package interop holds the example gateway's interoperability tests and benchmarks: real
// Kafka clients (franz-go kgo and kadm, IBM Sarama, segmentio kafka-go) manage offsets and run
// classic consumer groups against the gateway, started in-process on a free loopback port or
// built and run as a process, over memstore and over a real SeaweedFS filer. The package has
// no non-test code.
package interop
