package platform

import (
	"context"
	"errors"
)

// FileSender is an Adapter that can send files (an agent's answer with a
// report or a picture). It is optional: the core asks the agent for files
// only where the adapter implements it.
type FileSender interface {
	SendFile(ctx context.Context, f OutboundFile) (Sent, error)
}

// OutboundFile is one file of an answer.
type OutboundFile struct {
	Chat ChatID
	// ReplyTo, Key and Quote are as in Outbound.
	ReplyTo MessageID
	Key     string
	Quote   string
	// Path is the file on this machine; Kind "document" or "photo";
	// Caption plain text shown with it.
	Path, Kind, Caption string
}

// File kinds of an InboundFile.
const (
	FilePhoto    = "photo"    // a picture Telegram compressed (JPEG)
	FileDocument = "document" // any file sent as a file, with its name
	FileVoice    = "voice"    // a voice note
	FileAudio    = "audio"    // a music file
)

// InboundFile is a file a person sent, as the inbox stores it: enough to
// fetch it later, from the next process after a restart too. The file
// itself is fetched only when its turn runs (FileFetcher).
type InboundFile struct {
	// ID is the platform's id to fetch it by (Telegram's file_id).
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Size is the size the platform announced (0: unknown), Mime its
	// media type, Name its file name, when the platform gives them.
	Size int64  `json:"size,omitempty"`
	Mime string `json:"mime,omitempty"`
	Name string `json:"name,omitempty"`
}

// FileFetcher is an Adapter that can fetch the files people send. It is
// optional: on a platform without it a message with files is answered
// that only text is read.
type FileFetcher interface {
	// FetchFile downloads f into a new private file in dir and returns
	// its path. A file above limit bytes (or above the platform's own
	// limit, MaxFetchBytes) is refused with an error wrapping
	// ErrFileTooBig, leaving nothing behind.
	FetchFile(ctx context.Context, f InboundFile, dir string, limit int64) (string, error)
	// MaxFetchBytes is the platform's own limit on a file a bot may fetch
	// (Telegram: 20 MB).
	MaxFetchBytes() int64
}

// ErrFileTooBig is wrapped by FetchFile for a file above the limit.
var ErrFileTooBig = errors.New("the file is larger than allowed")
