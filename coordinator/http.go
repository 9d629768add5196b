package coordinator

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpHandler serves the node's HTTP endpoints on Config.MetricsAddr:
// /metrics (Prometheus, from the node's own registry), /healthz (200 while
// live, else 503) and /readyz (200 once ready, else 503); see health. With
// Config.Profiling, Go's profiles under /debug/pprof/ too.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", probe(s.health.isLive, "live"))
	mux.HandleFunc("GET /readyz", probe(s.health.isReady, "ready"))
	if s.cfg.Profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// probe answers 200 and what while ok holds, else 503 and "not " + what.
func probe(ok func() bool, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not " + what + "\n"))
			return
		}
		_, _ = w.Write([]byte(what + "\n"))
	}
}
