// Package layering holds no code: its test checks the module's import
// rules. internal/ holds foundations shared by the SDKs, the coordinator
// and the commands, so no internal package imports an SDK (client,
// participant) or the coordinator; and the participant SDK's extensions
// (participant/natsmsg) do not pull in the client SDK.
package layering
