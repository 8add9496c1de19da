package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// Host is what commands ask of the gateway around the router.
type Host interface {
	// StatusText is the /status answer.
	StatusText() string
	// RequestRestart begins a drain that ends in exit 75.
	RequestRestart(reason, by string) error
	// StartUpdate starts the updater as a unit of its own, reporting to m's
	// chat.
	StartUpdate(m Message, by string) error
}

// Options wire a router.
type Options struct {
	Store   *store.Store
	Agent   agent.Agent
	Auth    *Auth
	History *History
	Host    Host
	Log     *slog.Logger
	// MaxConcurrent bounds turns running at once across chats.
	MaxConcurrent int
	// MaxAttempts: a turn started this many times without finishing (each
	// start in a process that then died or restarted) is dropped with an
	// apology instead of run again, so nothing can loop forever.
	MaxAttempts int
	// TypingEvery repeats the typing indicator (Telegram shows it ~5 s).
	TypingEvery time.Duration
	// NoticeAfter: during a drain, a turn still running this long after it
	// began gets a "your answer is coming" notice.
	NoticeAfter time.Duration
	// FilesDir is where the files people send are fetched for their
	// turn (<state_dir>/files): <FilesDir>/<platform>/<message id>/,
	// removed when the turn ends. "": files are not fetched.
	FilesDir string
	// MaxFileBytes bounds a file people send (agent.max_file_bytes).
	MaxFileBytes int64
	// Finished, if set, is called after a message is answered or dropped.
	Finished func(m Message, state, note string)
}

// Router runs turns.
type Router struct {
	o       Options
	log     *slog.Logger
	ctx     context.Context
	abandon context.CancelFunc
	// sendCtx bounds sends separately: a drain that times out abandons the
	// turns (ctx) but lets a send already on its way finish, or the next
	// process would send that answer again.
	sendCtx   context.Context
	stopSends context.CancelFunc
	sem       chan struct{}
	mu        sync.Mutex
	platforms map[string]Platform
	chats     map[chatKey]*chatQueue
	// running is the one count of work in flight: every turn from the
	// moment it may start until it has finished (or been abandoned).
	running  map[*turn]struct{}
	draining bool
	// idle is closed when running drops to none during a drain.
	idle chan struct{}
	// claimed holds the messages whose turn is running in this process:
	// see claim.
	claimed map[msgKey]struct{}
	// replying and noticing order a turn's drain notice before its
	// answer: a notice is skipped once the answer is on its way or sent
	// (replying lasts until the turn's claim ends), and an
	// answer waits for a notice already on the wire. "Your answer is
	// coming" after the answer would be a false statement.
	replying map[msgKey]struct{}
	noticing map[msgKey]chan struct{}
	// stages is where each claimed message is in its life (life.go).
	stages map[msgKey]Stage
	// stops are the running agent turns /stop can end, by chat, and
	// stopAnswers the /stops that ended one (see stream.go).
	stops       map[chatKey]*stopHandle
	stopAnswers map[msgKey]bool
}

type msgKey struct {
	platform string
	id       platform.MessageID
}

type chatKey struct {
	platform string
	chat     platform.ChatID
}

type chatQueue struct {
	pending []Message
	active  bool
}

type turn struct {
	m       Message
	started time.Time
	// claimed: the turn holds its message (see claim); only then is it
	// worth a "your answer is coming" notice.
	claimed bool
	noticed bool
}

// New returns a router; add platforms before messages arrive.
func New(o Options) *Router {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 8
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.TypingEvery <= 0 {
		o.TypingEvery = 4 * time.Second
	}
	if o.NoticeAfter <= 0 {
		o.NoticeAfter = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 20 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	sendCtx, stopSends := context.WithCancel(context.Background())
	return &Router{o: o, log: o.Log, ctx: ctx, abandon: cancel, sendCtx: sendCtx, stopSends: stopSends, sem: make(chan struct{}, o.MaxConcurrent),
		platforms: map[string]Platform{}, chats: map[chatKey]*chatQueue{}, running: map[*turn]struct{}{},
		claimed: map[msgKey]struct{}{}, replying: map[msgKey]struct{}{}, noticing: map[msgKey]chan struct{}{}, stages: map[msgKey]Stage{}}
}

// AddPlatform registers where answers for a platform's messages go.
func (r *Router) AddPlatform(p Platform) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.platforms[p.Name()] = p
}

func (r *Router) platform(name string) Platform {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.platforms[name]
}

// Receive records a message durably, with the platform's cursor after it
// ("" leaves the cursor as it is), and queues it. It returns nil only once
// the message is on disk, so the caller may then confirm it to the
// platform. A message received before (a redelivery) is not queued again.
func (r *Router) Receive(m Message, cursor string) error {
	return r.ReceiveBatch(m.Platform, []Message{m}, cursor)
}

// ReceiveBatch records what one receive cycle brought, and the platform's
// cursor, in one transaction; then queues what was new.
func (r *Router) ReceiveBatch(platform string, ms []Message, cursor string) error {
	items := make([]store.Item, 0, len(ms))
	byID := make(map[string]Message, len(ms))
	for _, m := range ms {
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		id := string(m.ID)
		items = append(items, store.Item{ID: id, Chat: string(m.ChatID), Msg: raw})
		byID[id] = m
	}
	added, err := r.storeBatch(platform, items, cursor)
	if err != nil {
		return err
	}
	if len(added) < len(ms) {
		r.log.Info("redelivered updates ignored: already received", "platform", platform, "count", len(ms)-len(added))
	}
	for _, it := range added {
		r.Submit(byID[it.ID])
	}
	return nil
}

// Resume queues the work a previous process left unfinished, oldest first.
func (r *Router) Resume() (int, error) {
	items, skipped, err := r.o.Store.Unfinished()
	for _, e := range skipped {
		r.log.Warn("skipping an unreadable inbox record", "err", e)
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		var m Message
		if err := json.Unmarshal(it.Msg, &m); err != nil {
			r.dropUnreadable(it, err)
			continue
		}
		if !m.Parsed {
			m.Command, m.Args = legacyCommand(m.Text)
			m.Parsed = true
		}
		r.Submit(m)
		n++
	}
	return n, nil
}

// Submit queues a message that is already in the store. Queuing one twice
// is harmless: whether it still needs a turn is decided when the turn
// starts (claim).
func (r *Router) Submit(m Message) {
	if m.Command == "stop" {
		r.stopChat(m)
	}
	k := chatKey{m.Platform, m.ChatID}
	r.mu.Lock()
	q := r.chats[k]
	if q == nil {
		q = &chatQueue{}
		r.chats[k] = q
	}
	if m.Command == "stop" {
		// Ahead of the chat's other waiting messages: the answer to /stop
		// is about now, and behind them it would wait for turns that may
		// take minutes.
		q.pending = append([]Message{m}, q.pending...)
	} else {
		q.pending = append(q.pending, m)
	}
	start := !q.active
	q.active = true
	r.mu.Unlock()
	if start {
		go r.runChat(k)
	}
}

// runChat runs one chat's messages in order.
func (r *Router) runChat(k chatKey) {
	for {
		r.mu.Lock()
		q := r.chats[k]
		if len(q.pending) == 0 || r.draining {
			// Left pending in the store when draining: the next process
			// resumes them.
			q.active = false
			if len(q.pending) == 0 {
				delete(r.chats, k)
			}
			r.mu.Unlock()
			return
		}
		m := q.pending[0]
		q.pending = q.pending[1:]
		r.mu.Unlock()

		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		r.process(m)
		<-r.sem
	}
}

// Drain is the gateway's drain, in one place: no new turn starts from now
// on (what waits stays pending in the store for the next process); people
// whose turn is still running after NoticeAfter are told their answer is
// coming; the running turns are waited for until ctx ends. Turns still
// running then are abandoned (they stay pending and run again after the
// restart), but a send already on its way is granted grace to finish: cut
// short, its answer would be sent again by the next process. Drain returns
// how many turns were unfinished when ctx ended.
func (r *Router) Drain(ctx context.Context, grace time.Duration) (left int) {
	r.mu.Lock()
	r.draining = true
	turns := make([]*turn, 0, len(r.running))
	for t := range r.running {
		turns = append(turns, t)
	}
	if len(r.running) > 0 && r.idle == nil {
		r.idle = make(chan struct{})
	}
	idle := r.idle
	r.mu.Unlock()
	for _, t := range turns {
		wait := r.o.NoticeAfter - time.Since(t.started)
		time.AfterFunc(max(wait, 0), func() { r.notice(t) })
	}
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			left = r.InFlight()
		}
	}
	r.abandon()
	if left > 0 && idle != nil {
		t := time.NewTimer(grace)
		select {
		case <-idle:
		case <-t.C:
		}
		t.Stop()
	}
	r.stopSends()
	return left
}

// Draining reports whether a drain began: new work is refused.
func (r *Router) Draining() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.draining
}

func (r *Router) notice(t *turn) {
	k := msgKey{t.m.Platform, t.m.ID}
	r.mu.Lock()
	_, still := r.running[t]
	_, replying := r.replying[k]
	if !still || !t.claimed || t.noticed || replying {
		r.mu.Unlock()
		return
	}
	t.noticed = true
	sent := make(chan struct{})
	r.noticing[k] = sent
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.noticing, k)
		r.mu.Unlock()
		close(sent)
	}()
	if p := r.platform(t.m.Platform); p != nil {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		if _, err := p.Send(ctx, outbound(t.m, keyNotice, "⏳ Restarting, your answer is coming.")); err != nil {
			r.log.Warn("could not send the restart notice", "chat_id", t.m.ChatID, "err", err)
		}
	}
}

// Abandon cancels the turns still running and the sends on their way at
// once (Drain does it in order, with a grace for sends).
func (r *Router) Abandon() { r.abandon(); r.stopSends() }

// InFlight counts turns running now: the gateway's one in-flight count.
func (r *Router) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

func (r *Router) process(m Message) {
	t := &turn{m: m, started: time.Now()}
	r.mu.Lock()
	if r.draining {
		r.mu.Unlock()
		return // stays pending for the next process
	}
	r.running[t] = struct{}{}
	r.mu.Unlock()
	defer r.endTurn(t)
	release, ok := r.claim(m)
	if !ok {
		return
	}
	defer release()
	r.mu.Lock()
	t.claimed = true
	r.mu.Unlock()

	log := r.log.With("platform", m.Platform, "update_id", m.ID, "chat_id", m.ChatID)
	if m.Skip != "" {
		r.finish(m, store.Done, "skipped: "+m.Skip)
		return
	}
	p := r.platform(m.Platform)
	if p == nil {
		log.Warn("no platform to answer on; leaving the message pending")
		return
	}
	// Who may talk is read before the attempt is counted: an unreadable
	// approval is retried like a failed store write, and must never turn an
	// approved user into a stranger who is sent a pairing code.
	role, err := r.o.Auth.Role(m)
	if err != nil {
		log.Error("store: could not read who may talk; trying again in a few seconds", "err", err)
		time.AfterFunc(retryStoreAfter, func() {
			if r.ctx.Err() == nil {
				r.Submit(m)
			}
		})
		return
	}
	n, err := r.attempt(m)
	if err != nil {
		// A full disk, say: try again shortly, in this process, so the
		// message is answered once space returns without a restart.
		log.Error("store: could not count the attempt; trying again in a few seconds", "err", err)
		time.AfterFunc(retryStoreAfter, func() {
			if r.ctx.Err() == nil {
				r.Submit(m)
			}
		})
		return
	}
	m.Retried = n > 1
	if n > r.o.MaxAttempts {
		log.Error("dropping a turn that failed across restarts", "attempts", n-1)
		// The same words whichever process says them: a process killed
		// with this apology on the wire leaves the next one to say it
		// again, and a person should see one apology, repeated at worst,
		// never two that disagree about the count.
		_ = r.reply(log, p, m, fmt.Sprintf("😞 Sorry, I could not answer your message after %d tries; it has been dropped. Please send it again.", r.o.MaxAttempts))
		r.finish(m, store.Dropped, fmt.Sprintf("gave up after %d attempts", n-1))
		return
	}

	if !m.Private() {
		switch {
		case r.o.Auth.GroupAllowed(m.Platform, m.ChatID):
			if role == RoleNone {
				role = RoleUser // anyone in a listed group may talk to the agent
			}
		case r.o.Auth.AnyRoom(m.Platform) && role != RoleNone:
			// An allowed user in a room of theirs.
		case r.o.Auth.AnyRoom(m.Platform):
			r.finish(m, store.Done, "stranger in a group chat; pairing codes are given in one-to-one chats")
			return
		default:
			r.finish(m, store.Done, "group not listed in "+m.Platform+".groups")
			return
		}
	}
	if role == RoleNone {
		r.stranger(log, p, m)
		return
	}
	if m.Encrypted {
		r.encrypted(log, p, m)
		return
	}
	if _, ok := r.fileFetcher(p); !ok && len(m.Files) > 0 {
		m.Files = nil // a platform whose files the gateway cannot fetch: its text only
	}
	if m.Text == "" && len(m.Files) == 0 {
		note := "not text"
		if m.Unsupported != "" {
			note = "unsupported: " + m.Unsupported
		}
		r.answer(log, p, m, r.unsupportedAnswer(p, m), note)
		return
	}
	if m.Command != "" {
		r.command(log, p, m, role, m.Command, m.Args)
		return
	}
	r.agentTurn(log, p, m)
}

func (r *Router) endTurn(t *turn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, t)
	if len(r.running) == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// claim is the one place where a message becomes a turn, and it says
// whether it may: the message is pending in the inbox (not answered, nor
// dropped, by this process or an earlier one) and no turn of it runs in
// this process now. A message reaches its chat's queue by several doors, in
// any order and possibly more than once: Receive, Resume's snapshot of the
// inbox (stale by the time its turn starts if the same message came in by
// the webhook or the control socket, which serve before Resume, and was
// answered meanwhile), the retry after a failed store write. Deciding at
// enqueue time cannot see what happens while the message waits; deciding
// here, under the claim, can: only the claim holder changes the inbox
// record's state, so once claimed, pending stays true until this turn
// finishes it. The returned release ends the claim.
func (r *Router) claim(m Message) (release func(), ok bool) {
	k := msgKey{m.Platform, m.ID}
	r.mu.Lock()
	if _, running := r.claimed[k]; running {
		r.mu.Unlock()
		r.log.Info("not starting a second turn for an update being answered", "platform", m.Platform, "update_id", m.ID)
		return nil, false
	}
	r.claimed[k] = struct{}{}
	r.mu.Unlock()
	release = func() {
		r.mu.Lock()
		delete(r.claimed, k)
		delete(r.replying, k)
		delete(r.stages, k)
		r.mu.Unlock()
	}
	it, err := r.o.Store.Get(m.Platform, string(m.ID))
	switch {
	case err != nil:
		release()
		r.log.Error("store: could not read whether the message is answered; trying again in a few seconds",
			"platform", m.Platform, "update_id", m.ID, "err", err)
		time.AfterFunc(retryStoreAfter, func() {
			if r.ctx.Err() == nil {
				r.Submit(m)
			}
		})
		return nil, false
	case it == nil || it.State != store.Pending:
		release()
		state := "gone from the inbox"
		if it != nil {
			state = it.State
		}
		r.log.Info("not answering an update again: already finished", "platform", m.Platform, "update_id", m.ID, "state", state)
		return nil, false
	}
	r.mu.Lock()
	r.stages[k] = stageOf(it) // see life.go
	r.mu.Unlock()
	return release, true
}

func (r *Router) stranger(log *slog.Logger, p Platform, m Message) {
	pr, fresh, err := r.o.Auth.Pair(m)
	switch {
	case errors.Is(err, ErrTooManyPending):
		log.Warn("stranger refused: too many pairing requests pending", "user_id", m.UserID)
		r.finish(m, store.Done, "stranger; too many pairing requests pending")
		return
	case err != nil:
		log.Error("pairing failed", "err", err)
		return
	}
	if !fresh {
		// One answer per code: a stranger cannot make the bot talk.
		r.finish(m, store.Done, "stranger; pairing code already sent")
		return
	}
	log.Info("stranger got a pairing code", "user_id", m.UserID, "user_name", m.UserName, "code", pr.Code)
	r.answer(log, p, m, fmt.Sprintf("🔒 This bot is private. Your pairing code is %s (valid for an hour). Ask the bot's owner to run:\n%s", pr.Code, instance.Hermes("pairing approve "+pr.Code)),
		"stranger; pairing code "+pr.Code)
}

// collToldEncrypted: platform/chat → true, the encrypted rooms already
// told that the bot cannot read them.
const collToldEncrypted = "told_encrypted"

// encrypted tells an encrypted room, once, that the bot cannot read it.
func (r *Router) encrypted(log *slog.Logger, p Platform, m Message) {
	key := m.Platform + "/" + string(m.ChatID)
	var told bool
	if ok, err := r.o.Store.Load(collToldEncrypted, key, &told); err == nil && ok {
		r.finish(m, store.Done, "encrypted; the room was told before")
		return
	}
	if err := r.o.Store.Put(collToldEncrypted, key, true); err != nil {
		log.Warn("could not record that the encrypted room was told; it may be told again", "err", err)
	}
	r.answer(log, p, m, "🔒 This room is end-to-end encrypted, which I cannot read. Talk to me in a room without encryption.", "encrypted; the room was told")
}

func (r *Router) agentTurn(log *slog.Logger, p Platform, m Message) {
	conv, err := r.o.History.ForTurn(m.Platform, m.ChatID, m.ID)
	if err != nil {
		log.Warn("could not load the conversation; answering without history", "err", err)
	}
	ctx, stopped := r.stoppable(r.ctx, m)
	go r.typing(ctx, p, m.ChatID)
	var inFiles []agent.InFile
	var fetchErr error
	removeFiles := func() {}
	if fetcher, ok := r.fileFetcher(p); ok && len(m.Files) > 0 {
		var refusal string
		inFiles, removeFiles, refusal, fetchErr = r.fetchFiles(ctx, log, fetcher, m)
		if refusal != "" {
			removeFiles()
			stopped()
			r.answer(log, p, m, refusal, "files refused")
			return
		}
	}
	var (
		reply string
		st    *streamed
		files *filesAnswer
	)
	if err = fetchErr; err == nil { // else the drain or /stop ended the turn while fetching
		reply, st, files, err = r.runAgent(ctx, log, p, m, agent.Turn{
			Platform: m.Platform, ChatID: string(m.ChatID), UserID: string(m.UserID), UserName: m.UserName,
			Text: m.Text, History: conv.Messages, Files: inFiles,
		})
	}
	// The agent is done with them: gone before the answer is recorded, so
	// a finished turn leaves nothing behind.
	removeFiles()
	wasStopped := stopped() // also ends the typing
	if r.ctx.Err() != nil {
		if st != nil {
			// Its messages are recorded once a send under way is done
			// (the drain grants it grace): the next process finishes them.
			st.s.Abandon()
			st.cancel()
		}
		// Cut short on purpose: not the turn's fault, so it does not count
		// towards the attempts after which a turn is dropped.
		if err := r.giveBack(m); err != nil {
			log.Warn("could not take back the attempt", "err", err)
		}
		log.Info("turn abandoned by the drain; it runs again after the restart")
		return
	}
	if wasStopped && err != nil {
		log.Info("turn stopped by /stop")
		if st != nil {
			r.endAgentTurn(log, m, st, err, true)
			return
		}
		r.finish(m, store.Done, "stopped by /stop")
		return
	}
	if err != nil {
		log.Error("agent failed", "agent", r.o.Agent.Name(), "err", err)
		if st != nil {
			r.endAgentTurn(log, m, st, err, false)
			return
		}
		r.answer(log, p, m, agent.UserMessage(err), "agent error: "+err.Error())
		return
	}
	if files != nil {
		reply = files.historyText()
	}
	// Recorded before the send: a crash after the send must not lose the
	// turn from the conversation; a crash before it replaces it on rerun.
	if err := r.o.History.Record(m.Platform, m.ChatID, m.ID, historyText(m), reply); err != nil {
		log.Warn("could not save the conversation", "err", err)
	}
	if files != nil {
		r.answerFiles(log, p, files.fs, m, files.a)
		return
	}
	if st != nil {
		r.answerStream(log, m, st, reply, "answered")
		return
	}
	r.answer(log, p, m, reply, "answered")
}

func (r *Router) typing(ctx context.Context, p Platform, chatID platform.ChatID) {
	t := time.NewTicker(r.o.TypingEvery)
	defer t.Stop()
	for {
		if err := p.Typing(ctx, chatID); err != nil && ctx.Err() == nil {
			r.log.Debug("typing indicator failed", "chat_id", chatID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// answering marks m's answer as on its way, from its first text shown
// until the turn's claim ends (see claim's release): a drain's "your answer
// is coming" must not follow it. A notice already on the wire goes first.
func (r *Router) answering(m Message) {
	k := msgKey{m.Platform, m.ID}
	r.mu.Lock()
	notice := r.noticing[k]
	r.replying[k] = struct{}{}
	r.mu.Unlock()
	if notice != nil {
		<-notice // bounded by the notice's own 10 s timeout
	}
}

// errAbandoned: the drain cut a send short; the message stays pending.
var errAbandoned = errors.New("abandoned by the drain")

// reply sends text. A message that cannot be delivered is logged with the
// chat and the reason, and holds up nothing else.
func (r *Router) reply(log *slog.Logger, p Platform, m Message, text string) error {
	r.answering(m)
	ctx, cancel := context.WithTimeout(r.sendCtx, 2*time.Minute)
	defer cancel()
	if _, err := p.Send(ctx, outbound(m, keyAnswer, text)); err != nil {
		if r.sendCtx.Err() != nil {
			return errAbandoned
		}
		log.Error("delivery failed", events.DeliveryFailed.With("chat_id", m.ChatID, "err", err)...)
		return err
	}
	return nil
}

// answer replies and records the outcome.
func (r *Router) answer(log *slog.Logger, p Platform, m Message, text, note string) {
	switch err := r.reply(log, p, m, text); {
	case errors.Is(err, errAbandoned):
	case err != nil:
		r.finish(m, store.Done, "undeliverable: "+err.Error())
	default:
		r.answeredAndFinished(log, m, note)
	}
}

// Outbound keys: with the message answered, they make a send idempotent on
// a platform that deduplicates (Matrix's transaction ids), so a send
// repeated by the next process after a crash is not a second message.
const (
	keyAnswer = "answer" // the one reply to a message (answer, apology, refusal)
	keyNotice = "notice" // the drain's "your answer is coming"
	keyBack   = "back"   // ✓ Back, answering the /restart
)

// outbound is an answer to m.
func outbound(m Message, key, text string) platform.Outbound {
	return platform.Outbound{Chat: m.ChatID, ReplyTo: m.ID, Key: key, Quote: string(m.MessageID), Retried: m.Retried, Text: text}
}

// retryStoreAfter paces retries of store writes that failed (a full disk).
const retryStoreAfter = 2 * time.Second
