package deploy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

const dashboardFile = "grafana/dashboards/verdict.json"

// dashboard is the part of a Grafana dashboard the tests read: panels
// (rows nest theirs when collapsed), their data source and queries.
type dashboard struct {
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// query is one PromQL expression of the dashboard and the panel it is in.
type query struct{ panel, expr string }

func readDashboard(t *testing.T) ([]query, []*datasource) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []query
	var dss []*datasource
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			dss = append(dss, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has an empty query", p.Title)
				}
				qs = append(qs, query{p.Title, tg.Expr})
				dss = append(dss, tg.Datasource)
			}
		}
	}
	walk(d.Panels)
	if len(qs) == 0 {
		t.Fatalf("%s: no queries", dashboardFile)
	}
	return qs, dss
}

// promqlAggregations are PromQL's aggregation operators, which may be
// followed by a by/without clause before their parenthesis.
var promqlAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// promqlKeywords are PromQL's other words that are neither metrics nor
// functions.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
}

// promqlLabelClauses are followed by a parenthesised list of label names.
var promqlLabelClauses = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') }

// promqlNames returns the metric names and the label names (of matchers
// and by/without/on/ignoring/group_* clauses) that expr references. It
// reads the subset of PromQL a dashboard uses: selectors with matchers
// ({...}), range and subquery brackets ([...], skipped), functions and
// aggregations, binary operators, numbers, strings and Grafana variables
// ($name, ${name}).
func promqlNames(expr string) (metrics, labels []string) {
	next := func(i int) byte { // the next non-space character from i
		for ; i < len(expr); i++ {
			if expr[i] != ' ' && expr[i] != '\t' && expr[i] != '\n' {
				return expr[i]
			}
		}
		return 0
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '{': // matchers: label op "value", ...
			j := i + 1
			for j < len(expr) && expr[j] != '}' {
				switch {
				case expr[j] == '"' || expr[j] == '\'' || expr[j] == '`':
					q := expr[j]
					j++
					for j < len(expr) && expr[j] != q {
						if expr[j] == '\\' && q != '`' {
							j++
						}
						j++
					}
					j++
				case isIdentStart(expr[j]):
					k := j
					for k < len(expr) && isIdent(expr[k]) {
						k++
					}
					labels = append(labels, expr[j:k])
					j = k
				default:
					j++
				}
			}
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return metrics, labels
			}
			i += j + 1
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				j := strings.IndexByte(expr[i:], '}')
				if j < 0 {
					return metrics, labels
				}
				i += j + 1
				continue
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.': // a number or a duration
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			i = j
			switch {
			case promqlLabelClauses[word]:
				if next(i) != '(' {
					continue
				}
				k := strings.IndexByte(expr[i:], ')')
				if k < 0 {
					return metrics, labels
				}
				for _, l := range strings.Split(strings.Trim(strings.TrimSpace(expr[i:i+k]), "("), ",") {
					if l = strings.TrimSpace(l); l != "" {
						labels = append(labels, l)
					}
				}
				i += k + 1
			case promqlAggregations[word], promqlKeywords[word], next(i) == '(':
				// an aggregation, a keyword or a function
			default:
				metrics = append(metrics, word)
			}
		default:
			i++
		}
	}
	return metrics, labels
}

func TestPromqlNames(t *testing.T) {
	for _, tc := range []struct {
		expr            string
		metrics, labels []string
	}{
		{`histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{job="x",path=~"a|b"}[$__rate_interval])))`,
			[]string{"a_bucket"}, []string{"instance", "le", "job", "path"}},
		{`sum without(reason) (increase(b_total[5m] offset 1h)) / on(instance) group_left c > 0`,
			[]string{"b_total", "c"}, []string{"reason", "instance"}},
		{`max(d) - min(e) or vector(1e3) and f{l!="}"}`, []string{"d", "e", "f"}, []string{"l"}},
		{`sum(g) by (x)`, []string{"g"}, []string{"x"}},
	} {
		m, l := promqlNames(tc.expr)
		if !slices.Equal(m, tc.metrics) || !slices.Equal(l, tc.labels) {
			t.Errorf("promqlNames(%s) = %v, %v; want %v, %v", tc.expr, m, l, tc.metrics, tc.labels)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNode runs a single-node coordinator on 127.0.0.1, serving its
// metrics, and waits until it leads.
func startNode(t *testing.T) *coordinator.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := coordinator.Start(coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: l.Addr().String()}, DataDir: t.TempDir(), Listener: l,
		MetricsAddr: "127.0.0.1:0", Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := srv.Node().LeaderTerm(); ok {
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatal("node never became leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startParticipant serves a participant over a MemResource with the Work
// service, and returns a connection to it for the client SDK.
func startParticipant(t *testing.T, name, coord string) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res := participant.NewMemResource()
	part, err := participant.NewServer(participant.Config{
		Name: name, Address: l.Addr().String(), Resource: res, Coordinators: []string{coord}, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(part.UnaryServerInterceptor()))
	part.Register(g)
	worksvc.Register(g, res)
	part.Start()
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		part.Stop()
		<-done
	})
	return conn
}

// scrape fetches and parses a node's /metrics over HTTP.
func scrape(t *testing.T, srv *coordinator.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// served maps the names PromQL can query from fams (a histogram's _bucket,
// _sum and _count series; a summary's own name, _sum and _count) to their
// label names.
func served(fams map[string]*dto.MetricFamily) map[string]map[string]bool {
	names := map[string]map[string]bool{}
	for name, f := range fams {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		var series []string
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			series = []string{name + "_bucket", name + "_sum", name + "_count"}
		case dto.MetricType_SUMMARY:
			series = []string{name, name + "_sum", name + "_count"}
			labels["quantile"] = true
		default:
			series = []string{name}
		}
		for _, s := range series {
			names[s] = labels
		}
	}
	return names
}

// Every metric the dashboard queries is served by a real node that has
// committed a transaction, and every label a query matches or groups by is
// one of that metric's labels (or a label Prometheus adds: job, instance,
// or a histogram bucket's le).
func TestDashboardMetricsExist(t *testing.T) {
	qs, _ := readDashboard(t)
	srv := startNode(t)
	p1, p2 := startParticipant(t, "p1", srv.Addr()), startParticipant(t, "p2", srv.Addr())
	cl, err := client.Dial([]string{srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Run(ctx, func(ctx context.Context) error {
		if err := worksvc.Stage(ctx, p1, "a"); err != nil {
			return err
		}
		return worksvc.Stage(ctx, p2, "b")
	}); err != nil {
		t.Fatalf("transaction: %v", err)
	}

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, srv)
		if f := fams["verdict_commit_latency_seconds"]; f != nil && len(f.GetMetric()) > 0 && f.GetMetric()[0].GetHistogram().GetSampleCount() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node's /metrics never counted the committed transaction's latency")
		}
		time.Sleep(20 * time.Millisecond)
	}
	names := served(fams)

	missing := map[string][]string{} // metric -> panels
	used := map[string]bool{}
	for _, q := range qs {
		metrics, labels := promqlNames(q.expr)
		if len(metrics) == 0 {
			t.Errorf("panel %q: query %q names no metric", q.panel, q.expr)
		}
		for _, m := range metrics {
			used[m] = true
			if names[m] == nil && !slices.Contains(missing[m], q.panel) {
				missing[m] = append(missing[m], q.panel)
			}
		}
	label:
		for _, l := range labels {
			if l == "job" || l == "instance" || l == "le" || l == "__name__" {
				continue
			}
			for _, m := range metrics {
				if names[m][l] {
					continue label
				}
			}
			t.Errorf("panel %q: query %q uses label %q, which none of its metrics %v has", q.panel, q.expr, l, metrics)
		}
	}
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for m := range missing {
			if !yield(m) {
				return
			}
		}
	}) {
		t.Errorf("the dashboard queries %s (panels %q), which a node does not serve", m, missing[m])
	}
	// The dashboard covers what the node says about itself.
	for _, m := range []string{
		"verdict_commits_total", "verdict_aborts_total", "verdict_commit_latency_seconds_bucket",
		"verdict_in_doubt_transactions", "verdict_stuck_transactions", "verdict_phase2_retries_total",
		"verdict_raft_leader", "verdict_raft_term", "verdict_raft_leader_changes_total",
		"verdict_raft_applied_index", "verdict_raft_commit_index", "verdict_wal_fsync_duration_seconds_bucket",
		"verdict_raft_proposals_total", "verdict_connections",
	} {
		if !used[m] {
			t.Errorf("the dashboard does not query %s", m)
		}
	}
}

// readYAML decodes the YAML file at path (relative to this directory).
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The dashboard's panels and queries use the data source that Grafana is
// provisioned with, and the dashboard provider loads the directory
// compose.yaml mounts the dashboards in.
func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("provisioned data sources = %+v, want the compose service prometheus", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	_, dss := readDashboard(t)
	for _, d := range dss {
		if d == nil || d.Type != "prometheus" || d.UID != uid {
			t.Errorf("dashboard data source %+v, want prometheus %q", d, uid)
		}
	}

	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/verdict.yml", &prov)
	c := readCompose(t)
	mounts := c.Services["grafana"].Volumes
	for _, p := range prov.Providers {
		if !slices.Contains(mounts, "./deploy/grafana/dashboards:"+p.Options.Path+":ro") {
			t.Errorf("dashboard provider path %q: compose.yaml's grafana mounts %v", p.Options.Path, mounts)
		}
	}
	if len(prov.Providers) != 1 {
		t.Errorf("%d dashboard providers, want 1", len(prov.Providers))
	}
}

// Prometheus scrapes the three compose services' metrics port.
func TestPrometheusTargets(t *testing.T) {
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &cfg)
	c := readCompose(t)
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "verdict" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job verdict scrapes %s, want /metrics", sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	sort.Strings(targets)
	if want := []string{"verdict-1:9090", "verdict-2:9090", "verdict-3:9090"}; !slices.Equal(targets, want) {
		t.Errorf("job verdict's targets = %v, want %v", targets, want)
	}
	for _, tg := range targets {
		host, port, err := net.SplitHostPort(tg)
		if err != nil || port != "9090" {
			t.Errorf("target %q: want host:9090", tg)
			continue
		}
		if _, ok := c.Services[host]; !ok {
			t.Errorf("target %q names no compose service", tg)
		}
	}
	if !slices.Contains(c.Services["prometheus"].Volumes, "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro") {
		t.Errorf("compose.yaml's prometheus does not mount deploy/prometheus/prometheus.yml: %v", c.Services["prometheus"].Volumes)
	}
}

// composeFile is the part of compose.yaml the tests read.
type composeFile struct {
	Version  *string                   `yaml:"version"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context string `yaml:"context"`
		Target  string `yaml:"target"`
	} `yaml:"build"`
	Command     []string  `yaml:"command"`
	Environment yaml.Node `yaml:"environment"`
	Volumes     []string  `yaml:"volumes"`
	Ports       []string  `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, filepath.Join("..", "compose.yaml"), &c)
	return c
}

// env is a service's environment, in either of compose's forms (a map, or
// a list of NAME=value).
func (s composeService) env(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		var m map[string]string
		if err := s.Environment.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = m
	case yaml.SequenceNode:
		var l []string
		if err := s.Environment.Decode(&l); err != nil {
			t.Fatal(err)
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		t.Fatalf("environment: unexpected YAML %v", s.Environment.Kind)
	}
	return out
}

// verdictFlags are the flags of verdict that the compose file and the
// Dockerfile may use (as --flag or VERDICT_FLAG); valued is false for a
// boolean flag. cmd/verdict's tests check them against the real flag set.
var verdictFlags = map[string]bool{
	"id": true, "peers": true, "data-dir": true, "listen": true, "metrics-addr": true,
	"insecure-plaintext": false, "nats-url": true, "log-format": true, "log-level": true, "config": true,
}

func envName(flag string) string {
	return "VERDICT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// parseFlags reads args as verdict's command line: --name value,
// --name=value, or a boolean --name.
func parseFlags(t *testing.T, service string, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: argument %q is not a flag", service, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		valued, ok := verdictFlags[name]
		if !ok {
			t.Errorf("%s: flag --%s is not one of verdict's flags this deployment may use", service, name)
			continue
		}
		if valued && !hasValue {
			if i+1 >= len(args) {
				t.Errorf("%s: flag --%s has no value", service, name)
				continue
			}
			i++
			value = args[i]
		}
		out[name] = value
	}
	return out
}

// compose.yaml runs three nodes of the image, each with its id, the same
// peers, a volume of its own and its port published on 127.0.0.1, using
// only verdict's flags and VERDICT_* variables; the bank's services run
// the demo image; every published port is on 127.0.0.1.
func TestCompose(t *testing.T) {
	c := readCompose(t)
	if c.Version != nil {
		t.Errorf("compose.yaml has a version key (obsolete in the Compose Specification)")
	}
	allowedEnv := map[string]bool{}
	for f := range verdictFlags {
		allowedEnv[envName(f)] = true
	}
	const peers = "1=verdict-1:7400,2=verdict-2:7400,3=verdict-3:7400"
	for i, id := range []string{"1", "2", "3"} {
		name := "verdict-" + id
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.Build == nil || s.Build.Context != "." || s.Build.Target != "verdict" {
			t.Errorf("%s: build %+v, want the Dockerfile's target verdict", name, s.Build)
		}
		if i > 0 && s.Image != c.Services["verdict-1"].Image {
			t.Errorf("%s: image %q, want verdict-1's %q", name, s.Image, c.Services["verdict-1"].Image)
		}
		flags := parseFlags(t, name, s.Command)
		for k, v := range s.env(t) {
			if !allowedEnv[k] {
				t.Errorf("%s: environment variable %s is not one of the verdict variables this deployment may use", name, k)
				continue
			}
			for f := range verdictFlags {
				if envName(f) == k {
					if _, dup := flags[f]; dup {
						t.Errorf("%s: --%s given both as a flag and as %s", name, f, k)
					}
					flags[f] = v
				}
			}
		}
		if flags["id"] != id {
			t.Errorf("%s: --id %q, want %s", name, flags["id"], id)
		}
		if flags["peers"] != peers {
			t.Errorf("%s: --peers %q, want %s", name, flags["peers"], peers)
		}
		if _, ok := flags["insecure-plaintext"]; !ok {
			t.Errorf("%s: no --insecure-plaintext (the image serves plaintext on 0.0.0.0)", name)
		}
		if flags["nats-url"] != "nats://nats:4222" {
			t.Errorf("%s: --nats-url %q, want nats://nats:4222", name, flags["nats-url"])
		}
		vol := name + "-data:/var/lib/verdict"
		if !slices.Contains(s.Volumes, vol) {
			t.Errorf("%s: volumes %v, want %s", name, s.Volumes, vol)
		}
		if _, ok := c.Volumes[name+"-data"]; !ok {
			t.Errorf("%s: volume %s-data is not declared", name, name)
		}
		if want := []string{"127.0.0.1:740" + id + ":7400"}; !slices.Equal(s.Ports, want) {
			t.Errorf("%s: ports %v, want %v", name, s.Ports, want)
		}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", "verdictctl", "probe", "http://127.0.0.1:9090/readyz"}) {
			t.Errorf("%s: healthcheck %+v, want verdictctl probe of /readyz", name, s.Healthcheck)
		}
	}
	for _, name := range []string{"bank-a", "bank-b", "transfer"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.Build == nil || s.Build.Target != "demo" {
			t.Errorf("%s: build %+v, want the Dockerfile's target demo", name, s.Build)
		}
	}
	for _, name := range []string{"postgres", "nats", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is published beyond 127.0.0.1", name, p)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
	}
}

// The Dockerfile's final image sets only VERDICT_* variables of flags
// verdict has, probes readiness with verdictctl, and is the default target.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var stages []string
	env := map[string]string{} // of the last stage
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				stages = append(stages, f[3])
			}
			env = map[string]string{}
		case "ENV":
			for _, kv := range f[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Errorf("ENV %q: want NAME=value", kv)
				}
				env[k] = v
			}
		}
	}
	if len(stages) == 0 || stages[len(stages)-1] != "verdict" || !slices.Contains(stages, "demo") {
		t.Errorf("Dockerfile stages %v: want demo among them and verdict last (the default target)", stages)
	}
	allowed := map[string]bool{}
	for f := range verdictFlags {
		allowed[envName(f)] = true
	}
	want := map[string]string{
		"VERDICT_DATA_DIR": "/var/lib/verdict", "VERDICT_LISTEN": "0.0.0.0",
		"VERDICT_METRICS_ADDR": "0.0.0.0:9090", "VERDICT_LOG_FORMAT": "json",
	}
	for k, v := range env {
		if !allowed[k] {
			t.Errorf("Dockerfile sets %s, not one of verdict's variables", k)
		}
		if want[k] != v {
			t.Errorf("Dockerfile sets %s=%s, want %q", k, v, want[k])
		}
	}
	for k := range want {
		if _, ok := env[k]; !ok {
			t.Errorf("Dockerfile does not set %s", k)
		}
	}
	for _, s := range []string{
		`HEALTHCHECK`, `CMD ["verdictctl", "probe", "http://127.0.0.1:9090/readyz"]`,
		`ENTRYPOINT ["verdict"]`, "USER nonroot", "VOLUME /var/lib/verdict", "EXPOSE 7400 9090",
		"--chown=65532:65532 /rootfs/var/lib/verdict /var/lib/verdict",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("Dockerfile lacks %s", s)
		}
	}
}
