package server

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/syncproto"
)

// query reads a request's query parameters. Like unknown JSON fields, an
// unknown parameter is an error: a misspelled filter (?skew=) would
// otherwise silently select everything. The first problem is kept in err,
// naming the parameter.
type query struct {
	c   *gin.Context
	err error
}

func newQuery(c *gin.Context, allowed ...string) *query {
	q := &query{c: c}
	var unknown []string
	for name, vals := range c.Request.URL.Query() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
			continue
		}
		if len(vals) > 1 {
			q.fail("query parameter %q is given %d times; give it once", name, len(vals))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		q.err = syncproto.Errorf(syncproto.CodeInvalid, "unknown query parameter(s) %s; this route takes: %s",
			strings.Join(unknown, ", "), strings.Join(allowed, ", "))
	}
	return q
}

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = syncproto.Errorf(syncproto.CodeInvalid, format, args...)
	}
}

// str returns a parameter's value, "" when absent.
func (q *query) str(name string) string {
	v := q.c.Query(name)
	if len(v) > syncproto.MaxTextLen*8 {
		q.fail("query parameter %q is too long", name)
		return ""
	}
	return v
}

// int returns an integer parameter, def when absent. Below lo is an error;
// above hi is clamped to hi, so a client asking for a bigger page simply
// gets the biggest one.
func (q *query) int(name string, def, lo, hi int) int {
	v := q.c.Query(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		q.fail("query parameter %q must be an integer, got %q", name, v)
		return def
	}
	if n < lo {
		q.fail("query parameter %q must be at least %d, got %d", name, lo, n)
		return def
	}
	return min(n, hi)
}

// int64 returns a non-negative integer parameter, 0 when absent.
func (q *query) int64(name string) int64 {
	v := q.c.Query(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q.fail("query parameter %q must be a non-negative integer, got %q", name, v)
		return 0
	}
	return n
}

// uuid returns a UUID parameter, uuid.Nil when absent.
func (q *query) uuid(name string) uuid.UUID {
	v := q.c.Query(name)
	if v == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		q.fail("query parameter %q must be a UUID, got %q", name, v)
		return uuid.Nil
	}
	return id
}

// time returns an RFC 3339 time parameter, the zero time when absent.
func (q *query) time(name string) time.Time {
	v := q.c.Query(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q.fail("query parameter %q must be an RFC 3339 time such as 2026-11-27T18:00:00Z, got %q", name, v)
		return time.Time{}
	}
	return t
}

// bool returns a boolean parameter, false when absent.
func (q *query) bool(name string) bool {
	v := q.c.Query(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.fail("query parameter %q must be true or false, got %q", name, v)
	}
	return b
}

// oneOf returns a parameter that must be one of values (or absent).
func (q *query) oneOf(name string, values ...string) string {
	v := q.c.Query(name)
	if v != "" && !slices.Contains(values, v) {
		q.fail("query parameter %q must be one of %s, got %q", name, strings.Join(values, ", "), v)
		return ""
	}
	return v
}

// pathID parses the :id path parameter. A malformed ID cannot name
// anything, so it is answered like a missing object.
func pathID(c *gin.Context, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, syncproto.Errorf(syncproto.CodeNotFound, "%s %q not found", what, c.Param("id"))
	}
	return id, nil
}
