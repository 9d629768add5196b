// Package deploy holds what runs Verdict in containers, next to the
// Dockerfile and compose.yaml at the repository's root:
//
//   - compose/: files compose.yaml mounts into its services (the
//     PostgreSQL init script that creates the bank example's databases).
//   - prometheus/prometheus.yml: the Prometheus configuration, scraping
//     the three nodes' /metrics.
//   - grafana/provisioning/: Grafana's data source (that Prometheus) and
//     dashboard provider; grafana/dashboards/verdict.json: the dashboard.
//
// The package has no code, only tests that keep these files honest: every
// metric the dashboard queries is one a real node serves (with the labels
// the queries use), Prometheus scrapes the compose services on port 9090,
// and compose.yaml and the Dockerfile give the nodes only flags and
// VERDICT_* variables that verdict has.
package deploy
