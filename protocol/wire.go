package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultMaxFrameSize is Kafka's default socket.request.max.bytes (100 MiB): a sane limit on the
// size a request frame may declare, for ReadFrame.
const DefaultMaxFrameSize = 100 << 20

// Request header framing, from Kafka's RequestHeader schema: ControlledShutdown v0 uses
// request header v0 (no client id), and ApiVersions responses always use response header v0.
const (
	keyControlledShutdown = int16(kmsg.ControlledShutdown)
	keyAPIVersions        = int16(kmsg.ApiVersions)
)

// RequestHeader is a Kafka request header.
type RequestHeader struct {
	Key           int16   // API key
	Version       int16   // API version
	CorrelationID int32   // echoed in the response header
	ClientID      *string // nil when the client sent null (and for ControlledShutdown v0)
}

// errShort is the cause of every "ran out of bytes" failure.
var errShort = errors.New("frame too short")

// ReadRequestHeader parses the request header at the start of frame (the bytes after the
// int32 size prefix) and returns it with the request body that follows.
//
// The header is read to spec for every API key kmsg knows: int16 key, int16 version, int32
// correlation id, then (header v1 and v2) the client id as an int16-length nullable string,
// which stays non-compact even for flexible versions, then (header v2, the request's flexible
// versions) the header's tagged fields, which are skipped. ControlledShutdown v0 has header v0
// (no client id). ApiVersions (key 18) at a version newer than kmsg knows is read with header
// v2, as Kafka does, so a gateway can answer it with UNSUPPORTED_VERSION.
//
// For an unknown key, or a version kmsg cannot decode, ReadRequestHeader returns the header up
// to the client id, the rest of the frame as body, and an error matching ErrUnsupported: the
// correlation id is there for logging, and the caller should close the connection. Malformed
// bytes give an error matching ErrMalformed. It never panics and allocates nothing from a
// length read from the frame.
func ReadRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	hdr, body, _, err := readHeader(frame)
	return hdr, body, err
}

// readHeader is ReadRequestHeader that also returns the empty request of the header's key with
// its version set (nil when err is not nil).
func readHeader(frame []byte) (RequestHeader, []byte, kmsg.Request, error) {
	var hdr RequestHeader
	if len(frame) < 8 {
		return hdr, nil, nil, fmt.Errorf("%w: request header: %w", ErrMalformed, errShort)
	}
	hdr.Key = int16(binary.BigEndian.Uint16(frame))
	hdr.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	hdr.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	b := frame[8:]
	if kmsg.Key(hdr.Key) == kmsg.ControlledShutdown && hdr.Version == 0 {
		return hdr, b, withVersion(kmsg.RequestForKey(hdr.Key), 0), nil
	}

	// client_id: int16 length, -1 for null, never compact.
	if len(b) < 2 {
		return hdr, nil, nil, fmt.Errorf("%w: client id: %w", ErrMalformed, errShort)
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1:
	case n < 0:
		return hdr, nil, nil, fmt.Errorf("%w: client id length %d", ErrMalformed, n)
	case int(n) > len(b):
		return hdr, nil, nil, fmt.Errorf("%w: client id: %w", ErrMalformed, errShort)
	default:
		id := string(b[:n])
		hdr.ClientID = &id
		b = b[n:]
	}

	req := kmsg.RequestForKey(hdr.Key)
	if req == nil {
		return hdr, b, nil, unsupported(kmsg.Key(hdr.Key), hdr.Version)
	}
	flexible := false
	switch {
	case hdr.Version >= 0 && hdr.Version <= req.MaxVersion():
		req.SetVersion(hdr.Version)
		flexible = req.IsFlexible()
	case kmsg.Key(hdr.Key) == kmsg.ApiVersions && hdr.Version > req.MaxVersion():
		// Kafka reads any ApiVersions v3+ with the flexible header v2 and answers a version it
		// does not know with UNSUPPORTED_VERSION.
		return hdr, skipTagsOrRest(b), nil, unsupported(kmsg.Key(hdr.Key), hdr.Version)
	default:
		return hdr, b, nil, unsupported(kmsg.Key(hdr.Key), hdr.Version)
	}
	if flexible {
		rest, err := skipTags(b)
		if err != nil {
			return hdr, nil, nil, fmt.Errorf("%w: request header tags: %w", ErrMalformed, err)
		}
		b = rest
	}
	return hdr, b, req, nil
}

func withVersion(r kmsg.Request, v int16) kmsg.Request {
	r.SetVersion(v)
	return r
}

// skipTagsOrRest skips tagged fields, returning b unchanged when they do not parse.
func skipTagsOrRest(b []byte) []byte {
	if rest, err := skipTags(b); err == nil {
		return rest
	}
	return b
}

// skipTags skips a tagged-field section: an unsigned varint count, then for each field an
// unsigned varint tag, an unsigned varint size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	count, b, err := uvarint32(b)
	if err != nil {
		return nil, err
	}
	for i := uint32(0); i < count; i++ { // every field takes at least 2 bytes: bounded by len(b)
		if _, b, err = uvarint32(b); err != nil {
			return nil, err
		}
		var size uint32
		if size, b, err = uvarint32(b); err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(b)) {
			return nil, errShort
		}
		b = b[size:]
	}
	return b, nil
}

// uvarint32 reads a Kafka unsigned varint, at most 5 bytes and 32 bits.
func uvarint32(b []byte) (uint32, []byte, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, errShort
	case n < 0 || n > 5 || v > math.MaxUint32:
		return 0, nil, errors.New("varint overflows 32 bits")
	}
	return uint32(v), b[n:], nil
}

// ReadRequest parses a request frame (the bytes after the int32 size prefix): its header, as
// ReadRequestHeader does, and its body, decoded by kmsg for any key and version kmsg knows,
// whether or not a Handler serves it. The request is the caller's; string fields do not alias
// frame. Errors are as for ReadRequestHeader, plus ErrMalformed for a body that does not decode;
// the header is returned whenever it parsed.
func ReadRequest(frame []byte) (RequestHeader, kmsg.Request, error) {
	hdr, body, req, err := readHeader(frame)
	if err != nil {
		return hdr, nil, err
	}
	if err := req.ReadFrom(body); err != nil {
		return hdr, nil, malformed(kmsg.Key(hdr.Key), hdr.Version, err)
	}
	return hdr, req, nil
}

// AppendResponse appends to dst a complete response frame for a request with header hdr: the
// int32 size prefix, the correlation id, the header's empty tagged-field byte when the response
// is flexible (never for ApiVersions, whose responses always use response header v0), and resp
// encoded at its own version. resp's version is not changed: a gateway answering an
// ApiVersions request it cannot decode sets version 0 on its response.
func AppendResponse(dst []byte, hdr RequestHeader, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.CorrelationID))
	if resp.IsFlexible() && kmsg.Key(resp.Key()) != kmsg.ApiVersions {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// ReadFrame reads one size-prefixed request frame from r and returns it without its prefix,
// reusing buf's storage when it is large enough. A declared size that is negative or larger
// than maxSize (DefaultMaxFrameSize when maxSize <= 0) gives an error matching ErrMalformed
// before anything is allocated, and the buffer grows only as bytes actually arrive, so a peer
// cannot make the caller allocate memory it never sends. io.EOF is returned only when r ends
// cleanly before a frame starts.
//
// ReadFrame is ReadFrameSize followed by ReadFrameBody; a gateway that admits a frame by its
// size before reading it (a budget of bytes in flight, as Kafka's queued.max.request.bytes)
// calls the two itself.
func ReadFrame(r io.Reader, buf []byte, maxSize int) ([]byte, error) {
	n, err := ReadFrameSize(r, maxSize)
	if err != nil {
		return nil, err
	}
	return ReadFrameBody(r, buf, n)
}

// ReadFrameSize reads the int32 size prefix of a frame from r and returns the size. A size
// that is negative or larger than maxSize (DefaultMaxFrameSize when maxSize <= 0) gives an
// error matching ErrMalformed. io.EOF is returned only when r ends cleanly before the prefix;
// a prefix cut short gives io.ErrUnexpectedEOF.
func ReadFrameSize(r io.Reader, maxSize int) (int, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFrameSize
	}
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, err
	}
	n := int64(int32(binary.BigEndian.Uint32(size[:])))
	if n < 0 || n > int64(maxSize) {
		return 0, fmt.Errorf("%w: frame size %d (limit %d)", ErrMalformed, n, maxSize)
	}
	return int(n), nil
}

// ReadFrameBody reads the size bytes of a frame's body from r (size as ReadFrameSize
// returned it), reusing buf's storage when it is large enough. Beyond buf's capacity the
// buffer grows only as bytes actually arrive, 64 KiB or the bytes read so far at a time, so
// a size the peer declared but never sends allocates little. r ending before size bytes
// gives io.ErrUnexpectedEOF.
func ReadFrameBody(r io.Reader, buf []byte, size int) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: frame size %d", ErrMalformed, size)
	}
	if size <= cap(buf) {
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpectedEOF(err)
		}
		return buf, nil
	}
	const chunk = 64 << 10
	buf = buf[:0]
	for len(buf) < size {
		want := min(size-len(buf), max(chunk, len(buf)))
		if cap(buf)-len(buf) < want {
			grown := make([]byte, len(buf), len(buf)+want)
			copy(grown, buf)
			buf = grown
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF: inside a frame, an end is never clean.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
