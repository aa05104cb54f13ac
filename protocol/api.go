package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API a Handler serves: a row of the dispatch table. Serving a new API is
// one file (NN_name.go, with the handler and the three functions a row names) plus one row.
type api struct {
	key kmsg.Key
	min int16 // lowest version served
	// max returns the highest version h serves, or -1 when h does not serve the API at all
	// (a hook or store capability it needs is missing).
	max func(h *Handler) int16
	// handle answers a request of the API decoded by kmsg (Handle, Request). req is never
	// nil and is of the API's request type.
	handle func(h *Handler, ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error)
	// body decodes body at version, which h serves, and answers it (HandleBody). It returns
	// the recycled memory the response was built in, to be given back once it is encoded.
	// (Taking a *bodyMem instead would make HandleBody allocate one: the arguments of a call
	// through a func value escape.)
	body func(h *Handler, ctx context.Context, version int16, body []byte, c *call) (kmsg.Response, bodyMem, error)
	// countErrors adds every error code of resp, a response of the API, to ec.
	countErrors func(resp kmsg.Response, ec *errorCounter)
}

// numAPIs is the number of rows of the dispatch table.
const numAPIs = 4

// apiTable returns the dispatch table: every API a Handler can serve. Each Handler keeps its
// own copy, with the versions it serves.
func apiTable() [numAPIs]api {
	return [numAPIs]api{
		{key: kmsg.OffsetCommit, min: 0, max: maxIDVersion10, handle: handleOffsetCommit, body: bodyOffsetCommit, countErrors: countOffsetCommit},
		{key: kmsg.OffsetFetch, min: 0, max: maxIDVersion10, handle: handleOffsetFetch, body: bodyOffsetFetch, countErrors: countOffsetFetch},
		{key: kmsg.TxnOffsetCommit, min: 0, max: maxTxnVersion, handle: handleTxnOffsetCommit, body: bodyTxnOffsetCommit, countErrors: countTxnOffsetCommit},
		{key: kmsg.OffsetDelete, min: 0, max: onlyVersion0, handle: handleOffsetDelete, body: bodyOffsetDelete, countErrors: countOffsetDelete},
	}
}

// api returns the row of key, nil for an API the table does not have.
func (h *Handler) api(key int16) *api {
	for i := range h.apis {
		if h.apis[i].key.Int16() == key {
			return &h.apis[i]
		}
	}
	return nil
}

// maxIDVersion is the max of an API whose top version carries topic ids: served only with
// Options.TopicIDs, else one version less.
func maxIDVersion(top int16) func(*Handler) int16 {
	return func(h *Handler) int16 {
		if h.ids == nil {
			return top - 1
		}
		return top
	}
}

// maxIDVersion10 is maxIDVersion(10), without a closure, so that the table costs nothing to
// build.
func maxIDVersion10(h *Handler) int16 {
	if h.ids == nil {
		return 9
	}
	return 10
}

// onlyVersion0 is the max of an API served at v0 only.
func onlyVersion0(*Handler) int16 { return 0 }
