package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API a Handler serves: a row of the dispatch table. Serving a new API is
// one file (NN_name.go, with the handler and the functions a row names) plus one row; the
// Observer's error counts (CountErrors) reach any response by reflection, and take a direct
// path for the APIs whose counter CountErrors names.
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
}

// numAPIs is the number of rows of the dispatch table.
const numAPIs = 4

// apiTable returns the dispatch table: every API a Handler can serve. Each Handler keeps its
// own copy, with the versions it serves.
func apiTable() [numAPIs]api {
	return [numAPIs]api{
		{key: kmsg.OffsetCommit, min: 0, max: maxIDVersion(10), handle: handleOffsetCommit, body: bodyOffsetCommit},
		{key: kmsg.OffsetFetch, min: 0, max: maxIDVersion(10), handle: handleOffsetFetch, body: bodyOffsetFetch},
		{key: kmsg.TxnOffsetCommit, min: 0, max: maxTxnVersion, handle: handleTxnOffsetCommit, body: bodyTxnOffsetCommit},
		{key: kmsg.OffsetDelete, min: 0, max: fixedVersion(0), handle: handleOffsetDelete, body: bodyOffsetDelete},
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

// fixedVersion is the max of an API served at the same versions by every Handler.
func fixedVersion(v int16) func(*Handler) int16 {
	return func(*Handler) int16 { return v }
}
