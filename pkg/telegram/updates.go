package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Sink receives every incoming update, from the Poller or the
// WebhookHandler. It must return nil only once the update is stored durably:
// that is what allows it to be confirmed to Telegram, after which Telegram
// forgets it. An error leaves the update unconfirmed and it is delivered
// again later, so a Sink must be idempotent on update_id.
//
// raw is the update's JSON exactly as Telegram sent it (the Sink may keep
// it). If tgbotapi cannot decode it (a type it does not expect), u is the
// zero Update and raw is all there is; the Sink should record and skip it
// rather than fail, or the update would block the ones behind it. Updates of
// types tgbotapi does not know decode fine, with only UpdateID set.
type Sink func(ctx context.Context, u tgbotapi.Update, raw json.RawMessage) error

// incoming is one element of getUpdates' result (or one webhook body).
type incoming struct {
	// id is the update_id, or 0 if the element has none we can use.
	id     int64
	update tgbotapi.Update
	raw    json.RawMessage
	// err is why update is zero although raw is there.
	err error
}

var errNoUpdateID = errors.New("not an update: no positive integer update_id")

// decodeUpdate decodes one update. It fails only if raw is not a JSON object
// with a positive integer "update_id"; an update that tgbotapi cannot decode
// is returned with a zero Update and err set.
func decodeUpdate(raw json.RawMessage) (incoming, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return incoming{}, fmt.Errorf("update is not a JSON object: %w", err)
	}
	var id int64
	if v, ok := fields["update_id"]; !ok || json.Unmarshal(v, &id) != nil || id <= 0 {
		return incoming{}, errNoUpdateID
	}
	in := incoming{id: id, raw: raw}
	if err := json.Unmarshal(raw, &in.update); err != nil {
		in.update, in.err = tgbotapi.Update{}, err
	} else if int64(in.update.UpdateID) != id {
		// encoding/json matches keys case-insensitively; "UPDATE_ID"
		// must not pass for "update_id".
		in.update, in.err = tgbotapi.Update{}, errors.New("ambiguous update_id")
	}
	return in, nil
}

// decodeUpdates decodes getUpdates' result element by element, so that one
// update tgbotapi cannot decode does not make the whole batch (and every
// later poll) fail. Elements without a usable update_id are kept, with id 0
// and a zero Update, after the others. The result is in update_id order.
func decodeUpdates(result json.RawMessage) ([]incoming, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(result, &elems); err != nil {
		return nil, fmt.Errorf("result is not an array of updates: %w", err)
	}
	out := make([]incoming, 0, len(elems))
	for _, raw := range elems {
		in, err := decodeUpdate(raw)
		if err != nil {
			in = incoming{raw: raw, err: err}
		}
		out = append(out, in)
	}
	// Telegram sends updates in order; sorting is a cheap guarantee for
	// the sink, which may rely on it.
	slices.SortStableFunc(out, func(a, b incoming) int {
		switch {
		case a.id == b.id:
			return 0
		case a.id == 0:
			return 1
		case b.id == 0:
			return -1
		case a.id < b.id:
			return -1
		}
		return 1
	})
	return out, nil
}
