// Package fakebot is a faithful fake of the Telegram Bot API for tests and
// demos of the Hermes gateway.
//
// It answers like the real server where a gateway can go wrong: the JSON
// envelope ({"ok":true,"result":...} / {"ok":false,"error_code":N,
// "description":"..."}), 401 for a wrong token, 404 for unknown methods,
// getUpdates' offset confirmation, redelivery, negative offsets, limit and
// timeout clamping, long polling, the 409 conflicts (second poller, getUpdates
// while a webhook is set, or scripted for a time), sendMessage's text rules (empty, >4096 characters
// after entity parsing, "chat not found", HTML/MarkdownV2/Markdown parse
// errors with TDLib's wording), webhook delivery with the secret header,
// retries and confirmation, and 429 flood waits with parameters.retry_after.
//
// # Bot API side
//
// POST or GET {base}/bot{TOKEN}/{method}, method names case-insensitive,
// parameters in the query string, form-urlencoded, multipart or JSON.
// Implemented methods: getMe, getUpdates, sendMessage, editMessageText,
// deleteMessage, sendChatAction, getChat, setWebhook, deleteWebhook,
// getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands,
// answerCallbackQuery. Anything else is 404 Not Found.
//
// Chats are unknown until a user writes in them (InjectMessage,
// InjectUpdate) or AddChat registers them; until then sends fail with
// 400 "Bad Request: chat not found", as for a user who never started the bot.
//
// # Go control API
//
//	s := fakebot.NewServer(t, fakebot.Options{PollTimeUnit: 10 * time.Millisecond})
//	bot, _ := tgbotapi.NewBotAPIWithAPIEndpoint(s.Token(), s.APIEndpoint())
//	id := s.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "/start"})
//	msgs, err := s.WaitForMessages(ctx, 42, 1)
//	s.TooManyRequests("sendMessage", 1, 3) // next sendMessage: 429, retry after 3
//	end := s.ConflictFor(5 * time.Second)  // every getUpdates: 409 until end
//	s.NoLongPollsFor(10 * time.Second)     // getUpdates answered at once, not held
//
// Outside tests use New, then Start (random 127.0.0.1 port), Listen(addr) or
// Serve(listener), or mount Handler(); Close stops everything.
//
// # HTTP control API
//
// Served under /_fake/ on the same listener (used by cmd/fakebot). Answers
// use the Bot API envelope.
//
//	POST   /_fake/inject   {"chat_id":42,"user_id":42,"first_name":"Ann","username":"ann",
//	                        "chat_type":"private","chat_title":"","text":"/start",
//	                        "reply_to_message_id":0}          -> {"update_id":N}
//	POST   /_fake/update   <raw Update JSON without update_id> -> {"update_id":N}
//	POST   /_fake/chat     <Chat JSON: {"id":-100,"type":"group","title":"x"}>
//	GET    /_fake/sent[?chat_id=N]                             -> [SentMessage]
//	GET    /_fake/actions?chat_id=N                            -> [ChatAction]
//	POST   /_fake/wait?chat_id=N&count=K&timeout=5s            -> [SentMessage] (408 on timeout)
//	POST   /_fake/wait?method=getUpdates&count=K&timeout=5s    -> call count
//	POST   /_fake/wait?long_poll=1 | ?confirmed=UPDATE_ID      -> true
//	POST   /_fake/fault    {"kind":"too_many_requests","method":"sendMessage","count":2,"retry_after":3}
//	                       {"kind":"server_error","count":1,"status":502,"html":false}
//	                       {"kind":"delay","method":"getMe","count":1,"delay":"2s"}
//	                       {"kind":"drop","method":"sendMessage","count":1}
//	                       {"kind":"conflict","method":"getUpdates","duration":"5s"}
//	                       {"kind":"no_long_poll","method":"getUpdates","duration":"10s"}
//	                       (with "duration": every matching call until it is over,
//	                       instead of "count" calls)
//	DELETE /_fake/fault                                        (clears scripted faults)
//	POST   /_fake/token    {"token":"NEW"}                     (revokes the old token)
//	POST   /_fake/flood    {"enabled":true} | {"enabled":false} |
//	                       {"enabled":true,"per_chat":{"burst":1,"every":"1s"}}
//	GET    /_fake/stats                                        -> Stats
//
// # Deliberate simplifications
//
// No files, media, inline mode, payments or callback queries from users
// (inject them raw with /_fake/update). Webhook answers are not executed as
// method calls, updates never expire after 24 hours, and the webhook is
// always delivered to one connection at a time regardless of
// max_connections.
package fakebot
