// Package console is the operators' web console of a Verdict node: the
// cluster, the transactions (filtered as verdictctl tx list filters them,
// counted per state), one transaction with its timeline drawn as a chart,
// and live rates, latencies and in-doubt and stuck counts.
//
// How the pieces fit:
//   - Console (console.go) is an http.Handler. Its pages are Go templates
//     (templates/, embedded) rendered on the server; the only script is the
//     live page's, which polls /live.json (static/, embedded). Nothing needs
//     a build step.
//   - It reads through the node's own gRPC services, called in process
//     (Backend): the Coordinator service for transactions, the Admin service
//     for the cluster. Those forward to the leader as a gRPC call to a
//     follower would, so a follower's console shows the leader's view.
//   - Live numbers come from the node's own metrics (Backend.Sample), which
//     the console samples every second into a ring of the last minutes
//     (live.go); no Prometheus is needed.
//   - The timeline chart (timeline.go) is an SVG drawn on the server: time
//     on one axis, one row per participant, a mark per event.
//
// Reading needs no more than the Coordinator service needs; the console
// serves on its own address (Config.Addr of the node), with the node's TLS
// when it has one.
package console
