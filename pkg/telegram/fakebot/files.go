package fakebot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// maxDownloadBytes is the Bot API's limit on files a bot may fetch with
// getFile: 20 MB.
const maxDownloadBytes = 20 << 20

// Upload is a file a person sends the bot (see UserMessage.Photo and
// friends). Data is its content; Size, when not 0, overrides len(Data) as
// the size Telegram reports, so a test can send a "50 MB" video without
// 50 MB of memory (its download then serves Data).
type Upload struct {
	Name     string
	MIME     string
	Data     []byte
	Size     int
	Width    int
	Height   int
	Duration int
}

// PhotoSize is the Bot API PhotoSize object.
type PhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int    `json:"file_size,omitempty"`
}

// Document is the Bot API Document object.
type Document struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int    `json:"file_size,omitempty"`
}

// Voice is the Bot API Voice object (Audio has the same fields the
// gateway reads, plus a file name).
type Voice struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Duration     int    `json:"duration"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int    `json:"file_size,omitempty"`
	FileName     string `json:"file_name,omitempty"`
}

// File is the Bot API File object getFile answers.
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int    `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

type storedFile struct {
	file File
	data []byte
}

// addFileLocked stores u under a new file id, under a path in dir
// ("photos", "documents", "voice", "music").
func (s *Server) addFileLocked(u Upload, dir, ext string) File {
	if s.files == nil {
		s.files = map[string]*storedFile{}
	}
	n := len(s.files) + 1
	sum := sha256.Sum256(append([]byte(fmt.Sprint(n)), u.Data...))
	id := "AgAC" + hex.EncodeToString(sum[:12])
	size := u.Size
	if size == 0 {
		size = len(u.Data)
	}
	f := File{FileID: id, FileUniqueID: "AQAD" + hex.EncodeToString(sum[12:18]), FileSize: size,
		FilePath: fmt.Sprintf("%s/file_%d%s", dir, n, ext)}
	s.files[id] = &storedFile{file: f, data: u.Data}
	return f
}

func ext(name, fallback string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 && i < len(name)-1 && !strings.ContainsAny(name[i:], "/ ") {
		return name[i:]
	}
	return fallback
}

// attachLocked puts the files of m into msg, as Telegram does: a photo
// as its sizes, smallest first (the fake takes the uploads as the sizes).
func (s *Server) attachLocked(msg *Message, m UserMessage) {
	for _, p := range m.Photo {
		f := s.addFileLocked(p, "photos", ".jpg")
		msg.Photo = append(msg.Photo, PhotoSize{FileID: f.FileID, FileUniqueID: f.FileUniqueID, Width: p.Width, Height: p.Height, FileSize: f.FileSize})
	}
	if u := m.Document; u != nil {
		f := s.addFileLocked(*u, "documents", ext(u.Name, ""))
		msg.Document = &Document{FileID: f.FileID, FileUniqueID: f.FileUniqueID, FileName: u.Name, MimeType: u.MIME, FileSize: f.FileSize}
	}
	if u := m.Voice; u != nil {
		f := s.addFileLocked(*u, "voice", ".oga")
		msg.Voice = &Voice{FileID: f.FileID, FileUniqueID: f.FileUniqueID, Duration: u.Duration, MimeType: or(u.MIME, "audio/ogg"), FileSize: f.FileSize}
	}
	if u := m.Audio; u != nil {
		f := s.addFileLocked(*u, "music", ext(u.Name, ".mp3"))
		msg.Audio = &Voice{FileID: f.FileID, FileUniqueID: f.FileUniqueID, Duration: u.Duration, MimeType: or(u.MIME, "audio/mpeg"), FileSize: f.FileSize, FileName: u.Name}
	}
	if len(m.Photo) > 0 || m.Document != nil || m.Voice != nil || m.Audio != nil {
		msg.Caption, msg.Text, msg.Entities = msg.Text, "", nil
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// handleGetFile answers as Telegram does: the File with its download path,
// 400 "invalid file_id" for an id it never gave, 400 "file is too big"
// above the 20 MB a bot may download.
func (s *Server) handleGetFile(_ *http.Request, p params) (any, error) {
	id := p.str("file_id")
	if id == "" {
		return nil, badRequest("file_id is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sf, ok := s.files[id]
	if !ok {
		return nil, badRequest("invalid file_id")
	}
	if sf.file.FileSize > maxDownloadBytes {
		return nil, badRequest("file is too big")
	}
	return sf.file, nil
}

// serveFile serves GET /file/bot<token>/<file_path>, where Telegram serves
// downloads; anything unknown is a 404 as there.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/file/bot")
	token, path, ok := strings.Cut(rest, "/")
	s.mu.Lock()
	var data []byte
	found := false
	if ok && token == s.token {
		for _, sf := range s.files {
			if sf.file.FilePath == path {
				data, found = sf.data, true
				break
			}
		}
	}
	s.mu.Unlock()
	if !found {
		writeError(w, apiErr(404, DescNotFound))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	_, _ = w.Write(data)
}
