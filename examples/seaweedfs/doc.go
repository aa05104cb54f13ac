// Package seaweedfs holds the integration of offsetkit into SeaweedFS's Kafka gateway
// (`weed mq.kafka.gateway`): the patches against the pinned SeaweedFS version (patches/), the
// script that builds a patched weed from them (build-weed-kafka.sh), and end-to-end tests that
// run the stock and the patched gateway over a real `weed server -filer -mq.broker` with real
// Kafka clients. See README.md.
package seaweedfs
