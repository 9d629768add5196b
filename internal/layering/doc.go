// Package layering holds no code: its test checks the module's import
// rules. internal/ holds foundations shared by the SDKs, the coordinator
// and the commands, so no internal package imports an SDK (client,
// participant) or the coordinator; and the participant SDK's extensions
// (participant/natsmsg) do not pull in the client SDK; and the
// coordinator's state machine (coordinator/table) imports nothing that does
// I/O, reads a clock or draws random numbers; and the 2PC engine
// (coordinator/engine) imports no transport (gRPC, Raft, NATS, Prometheus)
// and not the node; and the Raft log (txlog) imports no public API.
package layering
