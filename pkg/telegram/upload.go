package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Upload kinds: how a file goes to the chat.
const (
	UploadDocument = "document" // sendDocument: any file, shown with its name
	UploadPhoto    = "photo"    // sendPhoto: shown as a picture
)

// MaxUploadBytes is the Bot API's limit on a file a bot sends: 50 MB
// (photos: 10 MB).
const MaxUploadBytes = 50 << 20

// SendFile sends the file at path to chatID as kind (UploadDocument or
// UploadPhoto) with a caption (plain text, "" for none), replying to
// replyTo if not 0, paced and retried like Send. It returns the message's
// id.
func (s *Sender) SendFile(ctx context.Context, chatID int64, kind, path, caption string, replyTo int) (int, error) {
	prefix := fmt.Sprintf("telegram: cannot deliver a file to chat %d", chatID)
	// A file that cannot be read is not retried: it will not appear.
	f, err := os.Open(path)
	if err != nil {
		return 0, &chatError{prefix, err}
	}
	f.Close()
	cp, err := s.acquire(ctx, chatID)
	if err != nil {
		return 0, &chatError{prefix, err}
	}
	defer s.release(chatID, cp)
	for attempt := 0; ; attempt++ {
		if err := s.pace(ctx, cp); err != nil {
			return 0, &chatError{prefix, err}
		}
		m, err := s.c.sendFile(ctx, chatID, kind, path, caption, replyTo)
		if err == nil {
			return m.MessageID, nil
		}
		if ctx.Err() != nil || !temporary(err) || attempt >= s.maxRetries {
			return 0, &chatError{prefix, err}
		}
		if wait, ok := retryAfter(err); ok {
			s.mu.Lock()
			cp.next = later(cp.next, s.clock.Now().Add(wait))
			s.mu.Unlock()
			continue
		}
		if err := s.clock.Sleep(ctx, s.backoff.delay(attempt+1)); err != nil {
			return 0, &chatError{prefix, err}
		}
	}
}

// sendFile uploads path with multipart/form-data, streamed from the disk.
func (c *Client) sendFile(ctx context.Context, chatID int64, kind, path, caption string, replyTo int) (tgbotapi.Message, error) {
	method := map[string]string{UploadDocument: "sendDocument", UploadPhoto: "sendPhoto"}[kind]
	if method == "" {
		return tgbotapi.Message{}, fmt.Errorf("telegram: unknown upload kind %q", kind)
	}
	f, err := os.Open(path)
	if err != nil {
		return tgbotapi.Message{}, c.fail(method, err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fields := map[string]string{"chat_id": strconv.FormatInt(chatID, 10)}
		if caption != "" {
			fields["caption"] = caption
		}
		if replyTo > 0 {
			fields["reply_parameters"] = `{"message_id":` + strconv.Itoa(replyTo) + `,"allow_sending_without_reply":true}`
		}
		var err error
		for k, v := range fields {
			if err == nil {
				err = mw.WriteField(k, v)
			}
		}
		if err == nil {
			var w io.Writer
			if w, err = mw.CreateFormFile(kind, filepath.Base(path)); err == nil {
				_, err = io.Copy(w, f)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	// An upload may take longer than a call: a minute more per 10 MB.
	st, _ := f.Stat()
	var extra time.Duration
	if st != nil {
		extra = time.Duration(st.Size()/(10<<20)+1) * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout+extra)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.root+"/bot"+c.token+"/"+method, pr)
	if err != nil {
		pr.CloseWithError(err)
		return tgbotapi.Message{}, c.fail(method, err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return tgbotapi.Message{}, c.fail(method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return tgbotapi.Message{}, c.fail(method, fmt.Errorf("read answer: %w", err))
	}
	var env tgbotapi.APIResponse
	if err := json.Unmarshal(body, &env); err != nil || (!env.Ok && env.ErrorCode == 0) {
		return tgbotapi.Message{}, c.fail(method, &APIError{Code: resp.StatusCode, Description: http.StatusText(resp.StatusCode)})
	}
	if !env.Ok {
		ae := &APIError{Code: env.ErrorCode, Description: env.Description}
		if p := env.Parameters; p != nil {
			ae.RetryAfter = time.Duration(p.RetryAfter) * time.Second
		}
		return tgbotapi.Message{}, c.fail(method, ae)
	}
	var m tgbotapi.Message
	if err := json.Unmarshal(env.Result, &m); err != nil {
		return m, c.fail(method, fmt.Errorf("decode result: %w", err))
	}
	return m, nil
}
