package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Server timeouts. WriteTimeout covers a readiness probe waiting for a Kafka
// ping and a large scrape.
const (
	serverReadHeaderTimeout = 5 * time.Second
	serverReadTimeout       = 10 * time.Second
	serverWriteTimeout      = 30 * time.Second
	serverIdleTimeout       = 60 * time.Second
	serverShutdownTimeout   = 5 * time.Second
)

// Server serves GET /metrics (when a metrics handler is given), /healthz
// (200 while the process serves) and /readyz (200 when every readiness check
// passes, else 503; the body lists each check) on its own mux.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// NewServer listens on addr (host:port; port 0 picks one) and returns a
// Server that serves once Serve is called. metrics may be nil (no /metrics);
// health may be nil (/readyz always 200). log may be nil.
// Route is one more endpoint for NewServer, such as GET /tenants.
type Route struct {
	Pattern string // an http.ServeMux pattern, e.g. "GET /tenants"
	Handler http.Handler
}

func NewServer(addr string, metrics http.Handler, health *Health, log *slog.Logger, routes ...Route) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { serveReady(w, r, health) })
	for _, rt := range routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return &Server{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: serverReadHeaderTimeout,
			ReadTimeout:       serverReadTimeout,
			WriteTimeout:      serverWriteTimeout,
			IdleTimeout:       serverIdleTimeout,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

func serveReady(w http.ResponseWriter, r *http.Request, h *Health) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h == nil {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	ok, checks := h.Ready(r.Context())
	var b strings.Builder
	for _, c := range checks {
		if c.Err == nil {
			fmt.Fprintf(&b, "[+] %s ok\n", c.Name)
		} else {
			fmt.Fprintf(&b, "[-] %s: %v\n", c.Name, c.Err)
		}
	}
	if ok {
		b.WriteString("ready\n")
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
		b.WriteString("not ready\n")
	}
	_, _ = w.Write([]byte(b.String()))
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is done, then shuts down gracefully, giving
// requests in progress up to 5 seconds, and returns nil. It returns an error
// only when serving fails.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serverShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("HTTP server did not shut down in time; closing it", "err", err)
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}
