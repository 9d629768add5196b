package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
)

// setupProbe is "verdictctl probe URL": a health check for images without
// a shell or curl, such as the Verdict container's HEALTHCHECK of a node's
// /readyz (served on --metrics-addr).
func setupProbe(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		if len(args) != 1 {
			fmt.Fprintln(e.stderr, "verdictctl probe: want one URL, such as http://127.0.0.1:9090/readyz")
			return exitUsage
		}
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(e.stderr, "verdictctl probe: %q is not an http(s) URL, such as http://127.0.0.1:9090/readyz\n", args[0])
			return exitUsage
		}
		ctx, cancel := e.callContext()
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl probe: %v\n", err)
			return exitUsage
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl probe: %v\n", err)
			return exitFailure
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(e.stderr, "verdictctl probe: %s answered %s\n", u, resp.Status)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", u, resp.Status)
		return exitOK
	}
}
