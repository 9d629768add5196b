package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Every flag of verdict is a setting that can come from three places, the
// first that has it winning: the command line, an environment variable
// (envName: --data-dir is VERDICT_DATA_DIR), and the config file named by
// --config or VERDICT_CONFIG (a YAML mapping of flag names to values:
// "data-dir: /var/lib/verdict"). Only --config and --version are command
// line flags alone.

// envPrefix starts the name of every setting's environment variable.
const envPrefix = "VERDICT_"

// cliOnly are the flags that are not settings.
var cliOnly = map[string]bool{"config": true, "version": true}

// envName is the environment variable of the flag named name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applySettings sets, on fs (parsed already), every flag the command line
// left out from the environment (getenv), else from the config file at
// path ("" for none). It names the variable or the file and key of a bad
// value, and refuses a file key that names no setting.
func applySettings(fs *flag.FlagSet, path string, getenv func(string) (string, bool)) error {
	file, err := readSettingsFile(path)
	if err != nil {
		return err
	}
	for key := range file {
		if f := fs.Lookup(key); f == nil || cliOnly[key] {
			return fmt.Errorf("config file %s: unknown setting %q (a setting is a flag's name without the dashes: see verdict -h)", path, key)
		}
	}
	onCLI := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCLI[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if onCLI[f.Name] || cliOnly[f.Name] {
			return
		}
		if v, ok := getenv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %q: %v", path, f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// readSettingsFile reads a YAML mapping of setting names to scalar values;
// nil for no path.
func readSettingsFile(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil // an empty file
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return map[string]string{}, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: line %d: want a mapping of settings (data-dir: /var/lib/verdict)", path, m.Line)
	}
	out := make(map[string]string, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("config file %s: line %d: %s: want a single value, as on the command line", path, v.Line, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("config file %s: line %d: %s given twice", path, k.Line, k.Value)
		}
		out[k.Value] = v.Value
	}
	return out, nil
}

// configPath is the config file named by --config on args or by
// VERDICT_CONFIG, found before the flags are parsed.
func configPath(fs *flag.FlagSet, getenv func(string) (string, bool)) string {
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	v, _ := getenv(envName("config"))
	return v
}

// ordinalRE finds the ordinal at the end of a StatefulSet pod's name.
var ordinalRE = regexp.MustCompile(`-([0-9]+)$`)

// idFromHostname derives a node id from a host name ending in -N, as a
// Kubernetes StatefulSet names its pods: verdict-0 is node 1.
func idFromHostname(host string) (uint64, error) {
	host, _, _ = strings.Cut(host, ".")
	m := ordinalRE.FindStringSubmatch(host)
	if m == nil {
		return 0, fmt.Errorf("--id-from-hostname: host name %q does not end in -N (a StatefulSet pod's ordinal)", host)
	}
	n, err := strconv.ParseUint(m[1], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("--id-from-hostname: host name %q: %v", host, err)
	}
	return n + 1, nil
}
