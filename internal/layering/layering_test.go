package layering

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/verdict-tx/verdict"

// goList runs go list -f format over pkgs and returns its output lines.
func goList(t *testing.T, format string, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-f", format}, pkgs...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Skipf("go list: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestInternalImportsNoSDK checks that no internal package (its non-test
// files) imports the client or participant SDK or the coordinator.
func TestInternalImportsNoSDK(t *testing.T) {
	forbidden := []string{module + "/client", module + "/participant", module + "/coordinator"}
	for _, line := range goList(t, `{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}`, module+"/internal/...") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
}

// TestNatsmsgImportsNoClient checks that participant/natsmsg does not
// depend, directly or not, on the client SDK.
func TestNatsmsgImportsNoClient(t *testing.T) {
	for _, dep := range goList(t, `{{range .Deps}}{{.}}{{"\n"}}{{end}}`, module+"/participant/natsmsg") {
		if dep == module+"/client" || strings.HasPrefix(dep, module+"/client/") {
			t.Errorf("participant/natsmsg depends on %s", dep)
		}
	}
}

// TestTableIsPure checks that coordinator/table, the deterministic state
// machine, imports only the log records, the public types, protobuf,
// internal/txid and the parts of the standard library that neither do I/O
// nor draw random numbers, and that it reads no clock.
func TestTableIsPure(t *testing.T) {
	allowed := []string{
		module + "/proto/verdict/log/v1", module + "/proto/verdict/v1",
		module + "/internal/txid", "google.golang.org/protobuf/",
	}
	forbiddenStd := []string{"os", "net", "math/rand", "crypto/rand", "io", "syscall", "log", "sync", "runtime"}
	pkg := module + "/coordinator/table"
	for _, imp := range goList(t, `{{join .Imports "\n"}}`, pkg) {
		first, _, _ := strings.Cut(imp, "/")
		if !strings.Contains(first, ".") { // the standard library
			for _, f := range forbiddenStd {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || imp == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a))
		}
		if !ok {
			t.Errorf("%s imports %s", pkg, imp)
		}
	}
	files := goList(t, `{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}`, pkg)
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, clock := range []string{"time.Now", "time.Since", "time.Until", "time.After", "time.Tick", "time.NewTimer", "time.Sleep"} {
			if strings.Contains(string(src), clock) {
				t.Errorf("%s uses %s", name, clock)
			}
		}
	}
}

// TestEngineImportsNoTransport checks that coordinator/engine, the 2PC
// engine, imports no gRPC, Raft, NATS or Prometheus package and neither
// the node (coordinator) nor its log (txlog): it reaches them only through
// the interfaces it defines (engine/ports.go).
func TestEngineImportsNoTransport(t *testing.T) {
	forbidden := []string{
		"google.golang.org/grpc", "go.etcd.io/raft", "github.com/nats-io/", "github.com/prometheus/",
		module + "/txlog", module + "/client", module + "/participant",
	}
	pkg := module + "/coordinator/engine"
	for _, imp := range goList(t, `{{join .Imports "\n"}}`, pkg) {
		if imp == module+"/coordinator" {
			t.Errorf("%s imports %s", pkg, imp)
		}
		for _, f := range forbidden {
			if imp == f || strings.HasPrefix(imp, strings.TrimSuffix(f, "/")+"/") || strings.HasPrefix(imp, f) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}

// TestTxlogImportsNoPublicAPI checks that the Raft log imports neither the
// public API (proto/verdict/v1) nor the coordinator: it carries opaque
// entries and speaks the peer protocol only.
func TestTxlogImportsNoPublicAPI(t *testing.T) {
	pkg := module + "/txlog"
	for _, imp := range goList(t, `{{join .Imports "\n"}}`, pkg) {
		if imp == module+"/proto/verdict/v1" || strings.HasPrefix(imp, module+"/coordinator") {
			t.Errorf("%s imports %s", pkg, imp)
		}
	}
}
