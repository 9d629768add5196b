package layering

import (
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
