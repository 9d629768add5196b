package main

import (
	"encoding/json"
	"testing"
)

// An endpoint without a port means the coordinator's port, 7400 (not
// gRPC's 443); a malformed one is bad usage.
func TestEndpointsDefaultPort(t *testing.T) {
	for ep, want := range map[string]string{"localhost": "localhost:7400", "[::1]": "[::1]:7400"} {
		_, out, errs := ctl(t, "cluster", "status", "--endpoints", ep, "--timeout", "300ms", "-o", "json")
		var st clusterStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Nodes) != 1 {
			t.Fatalf("--endpoints %s: cluster status json = %q (%v), stderr %q", ep, out, err, errs)
		}
		if got := st.Nodes[0].Endpoint; got != want {
			t.Errorf("--endpoints %s: asked %s, want %s", ep, got, want)
		}
	}
	for _, ep := range []string{"coord-1:notaport", "coord-1:99999999", "a b"} {
		if code, _, errs := ctl(t, "cluster", "status", "--endpoints", ep); code != exitUsage || errs == "" {
			t.Errorf("--endpoints %q: exit %d, stderr %q; want %d and a reason", ep, code, errs, exitUsage)
		}
	}
}
