package platform

import "context"

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
