package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testwait"
)

// The Kubernetes manifests of deploy/kubernetes must work with this
// binary: every VERDICT_* variable and flag they give is one of verdict's,
// their settings parse into a valid cluster of the StatefulSet's size
// whose members are its pods under the headless Service, the ports they
// name are the ones the node listens on, and the probe paths are served.
func TestKubernetesManifests(t *testing.T) {
	objs := readManifests(t, filepath.Join("..", "..", "deploy", "kubernetes"))
	sts := only(t, objs, "StatefulSet")
	svc := headless(t, objs)
	pdb := only(t, objs, "PodDisruptionBudget")

	spec := sts.m("spec")
	replicas := spec.int("replicas")
	if replicas != 3 {
		t.Errorf("replicas %d, want 3", replicas)
	}
	if spec.str("serviceName") != svc.m("metadata").str("name") {
		t.Errorf("serviceName %q is not the headless Service %q", spec.str("serviceName"), svc.m("metadata").str("name"))
	}
	podLabels := spec.m("template").m("metadata").m("labels")
	for what, sel := range map[string]obj{"StatefulSet": spec.m("selector").m("matchLabels"), "Service": svc.m("spec").m("selector"), "PodDisruptionBudget": pdb.m("spec").m("selector").m("matchLabels")} {
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("the %s selects %s=%v, which the pods do not carry (%v)", what, k, v, podLabels)
			}
		}
	}
	if pdb.m("spec").int("maxUnavailable") != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.m("spec")["maxUnavailable"])
	}

	c := spec.m("template").m("spec").list("containers")[0]
	ports := map[string]int{}
	for _, p := range c.list("ports") {
		ports[p.str("name")] = p.int("containerPort")
	}
	for _, p := range svc.m("spec").list("ports") {
		if _, ok := ports[p.str("targetPort")]; !ok {
			t.Errorf("the headless Service targets port %q, which the container does not name", p.str("targetPort"))
		}
	}

	env := map[string]string{}
	for _, e := range c.list("env") {
		env[e.str("name")] = e.str("value")
	}
	checkSettingNames(t, "statefulset.yaml", env, strArgs(c.list2("args")))

	// Each pod's settings, as verdict reads them.
	name := sts.m("metadata").str("name")
	for ordinal := range replicas {
		pod := fmt.Sprintf("%s-%d", name, ordinal)
		o, err := parseSettings(strArgs(c.list2("args")), envOf(env), func() (string, error) { return pod, nil })
		if err != nil {
			t.Fatalf("pod %s: %v", pod, err)
		}
		if o.cfg.ID != uint64(ordinal+1) {
			t.Errorf("pod %s gets id %d, want %d", pod, o.cfg.ID, ordinal+1)
		}
		peers, err := parsePeers(o.peers)
		if err != nil {
			t.Fatalf("pod %s: %v", pod, err)
		}
		if len(peers) != replicas {
			t.Errorf("--peers names %d members, the StatefulSet has %d replicas", len(peers), replicas)
		}
		want := fmt.Sprintf("%s.%s:%d", pod, spec.str("serviceName"), ports["grpc"])
		if peers[o.cfg.ID] != want {
			t.Errorf("pod %s is member %d at %q in --peers, want %q (its name under the headless Service)", pod, o.cfg.ID, peers[o.cfg.ID], want)
		}
		if port := portOf(t, o.cfg.ListenAddr); port != ports["grpc"] {
			t.Errorf("--listen %s: not the container port grpc (%d)", o.cfg.ListenAddr, ports["grpc"])
		}
		if port := portOf(t, o.cfg.MetricsAddr); port != ports["metrics"] {
			t.Errorf("--metrics-addr %s: not the container port metrics (%d)", o.cfg.MetricsAddr, ports["metrics"])
		}
		if o.cfg.DataDir != c.list("volumeMounts")[0].str("mountPath") {
			t.Errorf("--data-dir %s is not the volume's mount path", o.cfg.DataDir)
		}
		if _, err := newLogger(o.logLevel, o.logFormat); err != nil {
			t.Error(err)
		}
	}

	// The probes name the metrics port and paths the node serves.
	var paths []string
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		g := c.m(probe).m("httpGet")
		if g.str("port") != "metrics" {
			t.Errorf("%s probes port %q, want metrics", probe, g.str("port"))
		}
		paths = append(paths, g.str("path"))
	}
	checkServed(t, paths)
}

// checkSettingNames fails for a VERDICT_* variable or a flag that verdict
// does not have.
func checkSettingNames(t *testing.T, where string, env map[string]string, args []string) {
	t.Helper()
	var o options
	fs := defineFlags(&o)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = !cliOnly[f.Name] })
	for k := range env {
		if strings.HasPrefix(k, envPrefix) && !known[k] {
			t.Errorf("%s sets %s, which is no setting of verdict", where, k)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Errorf("%s: verdict's flags %v: %v", where, args, err)
	}
}

// checkServed starts a node with a metrics address and checks that every
// path answers 200 once it leads.
func checkServed(t *testing.T, paths []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := newLogger("error", "json")
	srv, err := coordinator.Start(coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: l.Addr().String()}, DataDir: t.TempDir(), Listener: l,
		MetricsAddr: "127.0.0.1:0", Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, p := range paths {
		url := "http://" + srv.MetricsAddr() + p
		testwait.For(t, 10*time.Second, url+" to answer 200", func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
}

// obj is a decoded YAML mapping, with accessors that fail loudly through
// a zero value (the test then reports what is missing).
type obj map[string]any

func (o obj) m(k string) obj {
	switch v := o[k].(type) {
	case map[string]any:
		return v
	case obj:
		return v
	}
	return nil
}

func (o obj) str(k string) string {
	switch v := o[k].(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	}
	return ""
}

func (o obj) int(k string) int {
	v, _ := o[k].(int)
	return v
}

func (o obj) list(k string) []obj {
	var out []obj
	for _, v := range o.list2(k) {
		switch m := v.(type) {
		case map[string]any:
			out = append(out, m)
		case obj:
			out = append(out, m)
		}
	}
	return out
}

func (o obj) list2(k string) []any {
	v, _ := o[k].([]any)
	return v
}

func strArgs(vs []any) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// readManifests decodes every YAML document of the .yaml files in dir.
func readManifests(t *testing.T, dir string) []obj {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var objs []obj
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o map[string]any
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o != nil {
				objs = append(objs, o)
			}
		}
	}
	return objs
}

func only(t *testing.T, objs []obj, kind string) obj {
	t.Helper()
	var found []obj
	for _, o := range objs {
		if o.str("kind") == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s objects in the manifests, want 1", len(found), kind)
	}
	return found[0]
}

func headless(t *testing.T, objs []obj) obj {
	t.Helper()
	for _, o := range objs {
		if o.str("kind") == "Service" && o.m("spec").str("clusterIP") == "None" {
			if o.m("spec")["publishNotReadyAddresses"] != true {
				t.Error("the headless Service must publish not-ready addresses: nodes resolve each other before there is a leader")
			}
			return o
		}
	}
	t.Fatal("no headless Service (clusterIP: None) in the manifests")
	return nil
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// The compose file's nodes and the Dockerfile's environment use only
// verdict's settings, and each node's settings parse into a member of the
// cluster they name.
func TestComposeAndDockerfileSettings(t *testing.T) {
	root := filepath.Join("..", "..")
	image := dockerfileEnv(t, filepath.Join(root, "Dockerfile"))
	checkSettingNames(t, "Dockerfile", image, nil)
	data, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]obj `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	nodes := 0
	for name, svc := range compose.Services {
		if svc.m("build").str("target") != "verdict" {
			continue
		}
		nodes++
		env := map[string]string{}
		for k, v := range image {
			env[k] = v
		}
		for k, v := range svc.m("environment") {
			env[k] = fmt.Sprint(v)
		}
		args := strArgs(svc.list2("command"))
		checkSettingNames(t, "compose.yaml service "+name, env, args)
		o, err := parseSettings(args, envOf(env), noHost)
		if err != nil {
			t.Fatalf("compose.yaml service %s: %v", name, err)
		}
		peers, err := parsePeers(o.peers)
		if err != nil {
			t.Fatalf("compose.yaml service %s: %v", name, err)
		}
		if host, _, err := net.SplitHostPort(peers[o.cfg.ID]); err != nil || host != name {
			t.Errorf("compose.yaml service %s is member %d at %q, not at its own name", name, o.cfg.ID, peers[o.cfg.ID])
		}
	}
	if nodes != 3 {
		t.Errorf("compose.yaml runs %d verdict nodes, want 3", nodes)
	}
}

// dockerfileEnv reads the VERDICT_* variables the Dockerfile's ENV lines
// set (KEY=VALUE pairs, continued with backslashes).
func dockerfileEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "ENV" {
			continue
		}
		for _, kv := range fields[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, envPrefix) {
				env[k] = v
			}
		}
	}
	if len(env) == 0 {
		t.Fatalf("%s sets no VERDICT_* variable", path)
	}
	return env
}
