package store

// The streams collection holds, for an answer being streamed, the
// platform's ids of the messages already begun, so that a process started
// after a restart edits them rather than sending the answer a second time.
// It is a nested bucket of its own in kv, created on first use: the schema
// of the other buckets does not change.
const collStreams = "streams"

type streamRecord struct {
	IDs []string `json:"ids"`
}

func streamKey(platform, id string) string { return platform + "\x00" + id }

// StreamBegun records, durably, the ids of the messages begun for the
// answer to inbound message id on platform.
func (s *Store) StreamBegun(platform, id string, ids []string) error {
	return s.Put(collStreams, streamKey(platform, id), streamRecord{IDs: ids})
}

// StreamResume returns the ids of the messages a previous process began
// for the answer to inbound message id (nil when none).
func (s *Store) StreamResume(platform, id string) ([]string, error) {
	var r streamRecord
	ok, err := s.Load(collStreams, streamKey(platform, id), &r)
	if err != nil || !ok {
		return nil, err
	}
	return r.IDs, nil
}

// StreamDone forgets the record of a finished (or abandoned for good)
// streamed answer.
func (s *Store) StreamDone(platform, id string) error {
	return s.Delete(collStreams, streamKey(platform, id))
}
