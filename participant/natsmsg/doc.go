// Package natsmsg stages NATS JetStream messages in a Verdict transaction:
// a staged message is published if and only if the transaction commits,
// exactly once (within the stream's duplicate window), and never when it
// aborts.
//
// How it works. Staged messages are held by the coordinator's leader with
// the active transaction and travel in its COMMIT record, so they are as
// durable as the decision itself. In phase 2 the leader publishes them to
// JetStream, message n of transaction T with the header
// Nats-Msg-Id = "T/n", and retries until JetStream acknowledges every one;
// DONE is recorded only after that. A new leader re-publishes the messages
// of a COMMIT without DONE; the duplicate window of the stream (its
// Duplicates setting, two minutes by default) drops the copies, so keep it
// longer than a leader failover plus the longest backoff
// (--max-retry-backoff). Messages are published in staging order, per
// transaction; there is no ordering between transactions.
//
// The coordinator must run with --nats-url (Config.NatsURL), and a stream
// must capture the subjects: a message on a subject no stream captures is
// retried until one does, and the transaction is reported stuck meanwhile.
// Staging is refused with FailedPrecondition without NATS, and with
// ResourceExhausted beyond --max-staged-bytes per transaction (default
// 1 MiB, the encoded size of all its messages: subjects, data, headers).
// A transaction whose only work is its messages commits too (the COMMIT
// record is always written when messages are staged).
//
// In an initiator, stage with Stage on the transaction's context, or with
// client.Tx.Publish; the messages are buffered and sent with Commit:
//
//	tx, err := cl.Begin(ctx)
//	...
//	if err := natsmsg.Stage(tx.Context(ctx), "orders.created", body); err != nil { ... }
//	err = tx.Commit(ctx) // published once committed
//
// In a participant's handler (behind participant.Server's interceptors),
// Stage sends the message to the coordinator at once, through the
// participant Server's connection to the transaction's coordinators:
//
//	func (s *orders) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateResponse, error) {
//		// ... the order's own work under participant.TxFromContext(ctx) ...
//		if err := natsmsg.Stage(ctx, "orders.created", data, natsmsg.WithHeader("Order-Id", id)); err != nil {
//			return nil, err
//		}
//		return &pb.CreateResponse{}, nil
//	}
//
// Consumers see each committed message once in the stream, with
// Nats-Msg-Id = "<txid>/<n>", which also tells them which transaction
// produced it.
//
// The coordinator also publishes lifecycle events (core NATS, best effort,
// JSON; see coordinator.Event) on verdict.events.committed, .aborted and
// .stuck, for dashboards and audit trails.
package natsmsg
