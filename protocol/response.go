package protocol

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ReadResponse parses a response frame (the bytes after the int32 size prefix) that answers
// req, the client side of AppendResponse, for tests and tools that speak the wire protocol
// without a client library. It returns the correlation id from the response header and the
// response decoded at req's version: the header's tagged fields are skipped when that
// version is flexible (never for ApiVersions, whose responses always use header v0).
//
// An ApiVersions response whose error code is UNSUPPORTED_VERSION is decoded at version 0,
// as clients do: it is the broker's answer to a version it does not serve (see
// APIVersionsFallback). Bytes that do not decode give an error matching ErrMalformed;
// comparing the correlation id with the request's is the caller's job.
func ReadResponse(frame []byte, req kmsg.Request) (correlationID int32, resp kmsg.Response, err error) {
	if len(frame) < 4 {
		return 0, nil, fmt.Errorf("%w: response header: %w", ErrMalformed, errShort)
	}
	correlationID = int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	resp = req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.Key() == keyAPIVersions && len(body) >= 2 && int16(binary.BigEndian.Uint16(body)) == kerr.UnsupportedVersion.Code {
		resp.SetVersion(0)
	}
	if resp.IsFlexible() && resp.Key() != keyAPIVersions {
		if body, err = skipTags(body); err != nil {
			return correlationID, nil, fmt.Errorf("%w: response header tags: %w", ErrMalformed, err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return correlationID, nil, fmt.Errorf("%w: %s v%d response: %w", ErrMalformed, kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	return correlationID, resp, nil
}
