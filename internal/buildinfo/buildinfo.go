// Package buildinfo describes the running binary for --version: the
// module's version and the VCS revision it was built from, read from the
// build information the Go toolchain embeds.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version, if set at link time (-ldflags "-X
// github.com/verdict-tx/verdict/internal/buildinfo.Version=v1.2.3"), is the
// version reported instead of the module's: a build without the module's
// version or the VCS (a container build without .git) names itself so.
var Version string

// String describes the binary named name: "name VERSION (REVISION[,
// modified], TIME) GO", leaving out what the build did not record.
func String(name string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return name + " (no build information)"
	}
	return describe(name, bi)
}

func describe(name string, bi *debug.BuildInfo) string {
	version := bi.Main.Version
	switch {
	case Version != "":
		version = Version
	case version == "":
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += ", modified"
		}
		vcs = append(vcs, rev)
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	out := fmt.Sprintf("%s %s", name, version)
	if len(vcs) > 0 {
		out += " (" + strings.Join(vcs, ", ") + ")"
	}
	return out + " " + bi.GoVersion
}
