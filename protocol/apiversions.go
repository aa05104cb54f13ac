package protocol

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIVersionsFallback returns Kafka's answer to an ApiVersions request at a version the
// gateway does not serve, and true, when hdr is such a request; otherwise nil and false.
// advertised is what the gateway answers ApiVersions with (its own APIs plus
// Handler.APIVersions), and readErr is the error that ReadRequest or ReadRequestHeader
// returned with hdr.
//
// A client opens every connection with ApiVersions at the newest version it knows, which
// may be newer than the gateway (or kmsg) knows. Kafka does not close the connection then:
// it reads the header as the flexible header v2, and answers at version 0, which every
// client can read, with UNSUPPORTED_VERSION and only its own ApiVersions range, so that the
// client retries at a version both sides know (KIP-511; Kafka's
// ApiVersionsRequest.getErrorResponse). ReadRequestHeader reads such a request's header the
// same way and returns it with an error matching ErrUnsupported; a request it found
// malformed (readErr matching ErrMalformed) gets no fallback, and neither does any request
// when advertised has no ApiVersions range.
//
// Answer it with AppendResponse(out, hdr, resp) and go on serving the connection.
func APIVersionsFallback(hdr RequestHeader, readErr error, advertised []kmsg.ApiVersionsResponseApiKey) (*kmsg.ApiVersionsResponse, bool) {
	if hdr.Key != keyAPIVersions || (readErr != nil && !errors.Is(readErr, ErrUnsupported)) {
		return nil, false
	}
	for _, k := range advertised {
		if k.ApiKey != keyAPIVersions {
			continue
		}
		if hdr.Version >= k.MinVersion && hdr.Version <= k.MaxVersion && readErr == nil {
			return nil, false // served: answer it normally
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
		return resp, true
	}
	return nil, false
}
