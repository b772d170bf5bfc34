package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"stocksync/syncproto"
)

// FuzzPullQuery feeds arbitrary query strings to the pull handler's query
// parsing (cursor and limit): it never panics, refuses with invalid, and
// what it accepts is a limit within 1..MaxPullLimit and a cursor of bounded
// length. The cursor's own decoding is fuzzed in the ledger
// (FuzzDecodeCursor).
func FuzzPullQuery(f *testing.F) {
	for _, s := range []string{
		"", "cursor=eyJ2IjoxfQ&limit=10", "limit=0", "limit=-1", "limit=99999999999999999999", "limit=5001",
		"limit=1&limit=2", "cursor=a&cursour=b", "cursor=%zz", "limit=+7", "cursor=;limit=3", "limit=%00",
	} {
		f.Add(s)
	}
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/sync/pull", nil)
		r.URL.RawQuery = raw
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = r
		q := newQuery(c, "cursor", "limit")
		cursor := q.str("cursor")
		limit := q.int("limit", syncproto.DefaultPullLimit, 1, syncproto.MaxPullLimit)
		if q.err != nil {
			var pe *syncproto.Error
			if !errors.As(q.err, &pe) || pe.Code != syncproto.CodeInvalid || pe.Message == "" {
				t.Fatalf("query %q: %v is not invalid with a message", raw, q.err)
			}
			return
		}
		if limit < 1 || limit > syncproto.MaxPullLimit {
			t.Fatalf("query %q: limit %d accepted", raw, limit)
		}
		if len(cursor) > syncproto.MaxTextLen*8 {
			t.Fatalf("query %q: a cursor of %d bytes accepted", raw, len(cursor))
		}
		if v := r.URL.Query().Get("limit"); v != "" {
			if n, err := strconv.Atoi(v); err != nil || min(n, syncproto.MaxPullLimit) != limit {
				t.Fatalf("query %q: limit %q read as %d", raw, v, limit)
			}
		}
	})
}
