package server

import (
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"stocksync/syncproto"
)

// errTooLarge is what a capped reader returns past its limit.
var errTooLarge = errors.New("body over the limit")

// capReader reads at most n bytes of r and remembers whether r had more,
// so a decode error caused by the cap can be told apart from bad JSON
// (the decoders turn every read error into a message).
type capReader struct {
	r        io.Reader
	n        int64 // bytes still allowed
	read     int64
	tooLarge bool
}

func (cr *capReader) Read(p []byte) (int, error) {
	if cr.tooLarge {
		return 0, errTooLarge
	}
	if int64(len(p)) > cr.n+1 {
		p = p[:cr.n+1]
	}
	n, err := cr.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		cr.tooLarge = true
		return 0, errTooLarge
	}
	if int64(n) > cr.n {
		cr.tooLarge = true
		cr.read += cr.n
		return int(cr.n), errTooLarge
	}
	cr.n -= int64(n)
	cr.read += int64(n)
	return n, err
}

// body is a request body under a size limit, decompressed when it came
// with Content-Encoding: gzip.
type body struct {
	io.Reader
	raw, plain *capReader
	gz         *gzip.Reader
}

// tooLarge reports whether the body, raw or decompressed, went past its
// limit.
func (b *body) tooLarge() bool { return b.raw.tooLarge || (b.plain != nil && b.plain.tooLarge) }

// size is the decompressed size read so far.
func (b *body) size() int64 {
	if b.plain != nil {
		return b.plain.read
	}
	return b.raw.read
}

func (b *body) close() {
	if b.gz != nil {
		_ = b.gz.Close()
	}
}

// decodeErr turns an error met while decoding the body into the error to
// answer with: too_large when the limit was the cause.
func (b *body) decodeErr(err error, limit int64) error {
	if b.tooLarge() {
		return syncproto.Errorf(syncproto.CodeTooLarge, "the request body is over %d bytes (after decompression); send less per request", limit)
	}
	return err
}

// openBody enforces limit before anything is decoded: a declared
// Content-Length over it is refused at once, an undeclared (chunked) body
// is cut off at the limit, and a gzip body is held to the same limit once
// decompressed, so a small bomb cannot expand into a large decode.
func openBody(c *gin.Context, limit int64) (*body, error) {
	r := c.Request
	if r.ContentLength > limit {
		return nil, syncproto.Errorf(syncproto.CodeTooLarge, "the request body is %d bytes, over the limit of %d; send less per request", r.ContentLength, limit)
	}
	raw := &capReader{r: http.MaxBytesReader(c.Writer, r.Body, limit), n: limit}
	b := &body{Reader: raw, raw: raw}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(raw)
		if err != nil {
			if raw.tooLarge {
				return nil, b.decodeErr(err, limit)
			}
			return nil, syncproto.Errorf(syncproto.CodeInvalid, "Content-Encoding is gzip but the body is not gzip data: %v", err)
		}
		b.gz = gz
		b.plain = &capReader{r: gz, n: limit}
		b.Reader = b.plain
	default:
		return nil, syncproto.Errorf(syncproto.CodeInvalid, "Content-Encoding %q is not supported; send gzip or no encoding", enc)
	}
	return b, nil
}

// decodeJSON reads a JSON body under limit into v, refusing unknown
// fields and trailing data.
func decodeJSON(c *gin.Context, limit int64, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	b, err := openBody(c, limit)
	if err != nil {
		return err
	}
	defer b.close()
	if err := syncproto.Decode(b, v); err != nil {
		return b.decodeErr(err, limit)
	}
	return nil
}

// requireJSON accepts a JSON Content-Type, or none (curl -d sends a form
// type, which is answered with a clear error rather than parsed).
func requireJSON(c *gin.Context) error {
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return syncproto.Errorf(syncproto.CodeInvalid, "Content-Type %q is not supported here; send application/json", ct)
}
