package fakebot

import (
	"io"
	"net/http"
	"unicode/utf8"
)

// Telegram's limits on what a bot uploads: 50 MB a file, 10 MB a photo,
// and captions of 1024 characters.
const (
	maxUploadBytes      = 50 << 20
	maxPhotoUploadBytes = 10 << 20
	maxCaptionLength    = 1024
)

// SentFile is a file the bot sent (sendDocument, sendPhoto), as recorded
// for assertions.
type SentFile struct {
	// Kind is "document" or "photo".
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	Data []byte `json:"data,omitempty"`
}

func (s *Server) handleSendDocument(r *http.Request, p params) (any, error) {
	return s.sendFile(r, p, "document", maxUploadBytes)
}

func (s *Server) handleSendPhoto(r *http.Request, p params) (any, error) {
	return s.sendFile(r, p, "photo", maxPhotoUploadBytes)
}

// sendFile takes a file uploaded with multipart/form-data under field, as
// Telegram does for a new file (a file_id or a URL, which Telegram also
// takes, the fake refuses as not in the request).
func (s *Server) sendFile(r *http.Request, p params, field string, limit int64) (any, error) {
	var sf SentFile
	if r.MultipartForm != nil && len(r.MultipartForm.File[field]) > 0 {
		fh := r.MultipartForm.File[field][0]
		if fh.Size > limit {
			return nil, apiErr(413, "Request Entity Too Large")
		}
		f, err := fh.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		sf = SentFile{Kind: field, Name: fh.Filename, Data: data}
	}
	if sf.Kind == "" || len(sf.Data) == 0 {
		return nil, badRequest("there is no " + field + " in the request")
	}
	caption := p.str("caption")
	if utf8.RuneCountInString(caption) > maxCaptionLength {
		return nil, badRequest("message caption is too long")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.resolveChatLocked(p)
	if aerr != nil {
		return nil, aerr
	}
	now := s.opts.Now()
	if aerr := s.flood.allow(c.chat, now); aerr != nil {
		s.broadcastLocked()
		return nil, aerr
	}
	bot := s.Bot()
	msg := &Message{MessageID: c.nextMessageID, From: &bot, Chat: c.chat, Date: now.Unix(), Caption: caption}
	f := s.addFileLocked(Upload{Name: sf.Name, Data: sf.Data}, field+"s", ext(sf.Name, ""))
	if field == "photo" {
		msg.Photo = []PhotoSize{{FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileSize: f.FileSize}}
	} else {
		msg.Document = &Document{FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileName: sf.Name, FileSize: f.FileSize}
	}
	c.nextMessageID++
	c.messages[msg.MessageID] = msg
	c.sent = append(c.sent, SentMessage{ChatID: c.chat.ID, MessageID: msg.MessageID, Caption: caption, File: &sf,
		ReplyToMessageID: replyToParam(p), Time: now})
	s.broadcastLocked()
	return msg, nil
}

// replyToParam reads the message a send replies to, in either form.
func replyToParam(p params) int {
	var rp replyParameters
	if ok, err := p.object("reply_parameters", &rp); err == nil && ok {
		return rp.MessageID
	}
	return p.int("reply_to_message_id", 0)
}
