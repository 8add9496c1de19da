package fakebot

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error descriptions exactly as the real Bot API words them. Gateways match
// on some of these strings (409 handling in particular), so they are
// reproduced character for character.
const (
	DescUnauthorized       = "Unauthorized"
	DescNotFound           = "Not Found"
	DescPollConflict       = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	DescWebhookActive      = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
	DescPollBySetWebhook   = "Conflict: terminated by setWebhook request"
	DescMessageTextEmpty   = "Bad Request: message text is empty"
	DescMessageTooLong     = "Bad Request: message is too long"
	DescChatNotFound       = "Bad Request: chat not found"
	DescChatIDEmpty        = "Bad Request: chat_id is empty"
	DescReplyNotFound      = "Bad Request: message to be replied not found"
	DescUnsupportedParse   = "Bad Request: unsupported parse_mode"
	DescParseEntities      = "Bad Request: can't parse entities: "
	DescInternalError      = "Internal Server Error"
	DescBadGateway         = "Bad Gateway"
	DescMessageNotModified = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
	DescEditNotFound       = "Bad Request: message to edit not found"
	DescCantBeEdited       = "Bad Request: message can't be edited"
	DescDeleteNotFound     = "Bad Request: message to delete not found"
	DescWrongAction        = "Bad Request: wrong parameter action in request"
)

// APIError is an error answer of the Bot API: the HTTP status equals Code and
// the body is {"ok":false,"error_code":Code,"description":Description} plus
// "parameters":{"retry_after":N} for 429.
type APIError struct {
	Code        int
	Description string
	RetryAfter  int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram: %d %s", e.Code, e.Description)
}

func apiErr(code int, desc string) *APIError { return &APIError{Code: code, Description: desc} }

// badRequest prefixes msg the way the Bot API does for every 400.
func badRequest(msg string) *APIError { return apiErr(400, "Bad Request: "+msg) }

// tooManyRequests is the flood-wait answer; Telegram puts the wait both in
// the description and in parameters.retry_after.
func tooManyRequests(retryAfter int) *APIError {
	if retryAfter < 1 {
		retryAfter = 1
	}
	return &APIError{
		Code:        429,
		Description: "Too Many Requests: retry after " + strconv.Itoa(retryAfter),
		RetryAfter:  retryAfter,
	}
}

// serverError builds the 5xx answers of the Telegram front end.
func serverError(status int) *APIError {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	// 500 "Internal Server Error", 502 "Bad Gateway", ...
	return apiErr(status, http.StatusText(status))
}

// ErrClosed is returned by waits interrupted because the server was closed.
var ErrClosed = errors.New("fakebot: server closed")

// errClientGone marks a request whose client went away; nothing is written.
var errClientGone = errors.New("fakebot: client went away")
