package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeProtoJSON writes m for scripts (plainJSON).
func writeProtoJSON(w io.Writer, m proto.Message) error {
	return writeJSON(w, plainJSON(m))
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// fail reports err on stderr and returns the exit code it deserves: 2 when
// the cluster says the request is wrong or names nothing it knows, 1 when
// it could not be asked or failed.
func (e *env) fail(what string, err error) int {
	fmt.Fprintf(e.stderr, "verdictctl: %s: %v\n", what, describe(err))
	return exitCodeOf(err)
}

func exitCodeOf(err error) int {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.OutOfRange:
		return exitUsage
	}
	return exitFailure
}

// describe makes a gRPC error readable in one style: its code, then the
// message ("cluster unreachable" first when no node answered).
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Sprintf("cluster unreachable (%v): %s", st.Code(), st.Message())
	}
	return fmt.Sprintf("%v: %s", st.Code(), st.Message())
}

// ago formats the time since t for people: "850ms", "12s", "3m4s", "2h5m".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}

func unixMs(ms int64) time.Time { return time.UnixMilli(ms) }

// ms converts a duration to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
