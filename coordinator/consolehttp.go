package coordinator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/verdict-tx/verdict/coordinator/console"
)

// ErrConsoleListen is wrapped by the error of Start when the console's
// address cannot be listened on.
var ErrConsoleListen = errors.New("verdict: cannot listen on the console address")

// startConsole serves the operators' web console (package console) on
// Config.ConsoleAddr, over the node's TLS when it has one, reading through
// the node's own services.
func (s *Server) startConsole(coord *service, adm *admin) error {
	l, err := net.Listen("tcp", s.cfg.ConsoleAddr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConsoleListen, err)
	}
	if s.cfg.TLS != nil {
		l = tls.NewListener(l, s.cfg.TLS.Clone())
	}
	c := console.New(console.Backend{Coordinator: coord, Admin: adm, Sample: s.metrics.sample},
		console.Auth{Token: s.cfg.AdminToken, TLS: s.cfg.TLS != nil, Hosts: s.cfg.ConsoleHosts}, s.log.With("component", "console"))
	s.clis = l
	// Failed handshakes (a browser without the client certificate) are
	// the client's business: logged at debug level.
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.console = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
	s.goroutine(func() { c.Run(s.ctx) })
	s.goroutine(func() { _ = s.console.Serve(l) })
	return nil
}

// ConsoleAddr is the address the web console is served on; empty without
// Config.ConsoleAddr.
func (s *Server) ConsoleAddr() string {
	if s.clis == nil {
		return ""
	}
	return s.clis.Addr().String()
}

// sample reads the counters the console's live page shows from the
// node's registry.
func (m *metrics) sample() console.Sample {
	out := console.Sample{At: time.Now()}
	families, err := m.reg.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		switch f.GetName() {
		case "verdict_commits_total":
			out.Commits = sum(f, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
		case "verdict_aborts_total":
			out.Aborts = sum(f, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
		case "verdict_in_doubt_transactions":
			out.InDoubt = sum(f, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
		case "verdict_stuck_transactions":
			out.Stuck = sum(f, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
		case "verdict_commit_latency_seconds":
			for _, mt := range f.GetMetric() {
				h := mt.GetHistogram()
				for _, b := range h.GetBucket() {
					out.Latency = append(out.Latency, console.Bucket{Le: b.GetUpperBound(), Count: float64(b.GetCumulativeCount())})
				}
				out.Latency = append(out.Latency, console.Bucket{Le: inf, Count: float64(h.GetSampleCount())})
			}
		}
	}
	return out
}

var inf = math.Inf(1)

func sum(f *dto.MetricFamily, v func(*dto.Metric) float64) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		total += v(m)
	}
	return total
}
