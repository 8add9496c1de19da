// Package telegram is the Hermes gateway's Telegram transport: it talks to
// the Bot API and nothing else. Business logic (the durable inbox, routing,
// commands, authorization) lives elsewhere and plugs in through two seams:
//
//   - a Sink, which receives every incoming update (from the Poller or the
//     WebhookHandler) and must have stored it durably when it returns nil;
//   - a Sender, through which replies go out, paced and retried.
//
// The delivery rule the whole package is built around: an update is
// confirmed to Telegram only after the Sink accepted it. In polling mode that
// means the next getUpdates carries offset = update_id+1 only after the Sink
// returned nil; in webhook mode the handler answers 200 only then. Anything
// else (a failing store, a crash, a cancelled context) leaves the update
// unconfirmed, and Telegram delivers it again. Sinks must therefore be
// idempotent on update_id.
//
// Every call takes a context.Context, and every error returned by this
// package has the bot token replaced by "<redacted>": the Bot API puts the
// token in every URL, and net/http puts URLs in its errors.
package telegram
