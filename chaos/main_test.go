package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// binDir holds the binaries built for this test binary's run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "verdict-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// A goroutine that outlives the tests fails them.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binaries builds cmd/verdict and chaos/chaospart once per test binary run
// (on first use, so that a run that selects no chaos test builds nothing)
// and returns their paths.
func binaries(t testing.TB) (verdict, part string) {
	t.Helper()
	verdict, part = filepath.Join(binDir, "verdict"), filepath.Join(binDir, "chaospart")
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		for pkg, out := range map[string]string{
			"github.com/verdict-tx/verdict/cmd/verdict":     verdict,
			"github.com/verdict-tx/verdict/chaos/chaospart": part,
		} {
			cmd := exec.Command(goBin, "build", "-o", out, pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return verdict, part
}
