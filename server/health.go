package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"stocksync/syncproto"
)

// healthz is GET /healthz: the process is up and answering. It checks
// nothing else, so an orchestrator restarts the process only when the
// process itself is stuck, never because the database is.
func (s *Server) healthz(c *gin.Context) {
	s.writeJSON(c, http.StatusOK, gin.H{"status": "ok"})
}

// readyz is GET /readyz: the server can take work. It turns 503 as soon as
// shutdown starts, and while Config.Ready (a database ping) fails.
func (s *Server) readyz(c *gin.Context) {
	if s.shuttingDown.Load() {
		c.Header(syncproto.HeaderRetryAfter, "1")
		s.fail(c, syncproto.Errorf(syncproto.CodeUnavailable, "shutting down"))
		return
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			// The detail may name hosts; it goes to the log only.
			s.log.WarnContext(ctx, "not ready", "err", err)
			c.Header(syncproto.HeaderRetryAfter, "1")
			s.fail(c, syncproto.Errorf(syncproto.CodeUnavailable, "not ready: the database is unreachable"))
			return
		}
	}
	s.writeJSON(c, http.StatusOK, gin.H{"status": "ok"})
}
