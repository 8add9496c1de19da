package store

// The parts collection records, for an answer made of several sends (a
// text and files), which parts went out, so that a process started after a
// restart sends only the rest: a file sent is not sent again. It is a
// nested bucket of its own in kv, created on first use.
const collParts = "parts"

type partsRecord struct {
	Sent []string `json:"sent"`
}

// PartsSent returns the parts of the answer to inbound message id already
// sent (nil when none).
func (s *Store) PartsSent(platform, id string) ([]string, error) {
	var r partsRecord
	ok, err := s.Load(collParts, streamKey(platform, id), &r)
	if err != nil || !ok {
		return nil, err
	}
	return r.Sent, nil
}

// PartSent records, durably, that part of the answer to inbound message id
// was sent; sent is what PartsSent said plus the parts recorded since.
func (s *Store) PartSent(platform, id string, sent []string) error {
	return s.Put(collParts, streamKey(platform, id), partsRecord{Sent: sent})
}

// PartsDone forgets the record of a finished answer.
func (s *Store) PartsDone(platform, id string) error {
	return s.Delete(collParts, streamKey(platform, id))
}
