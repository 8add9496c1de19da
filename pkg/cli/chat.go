package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newChatCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   `chat ["message"]`,
		Short: "Talk to your agent through the gateway, as the local user",
		Long: `Sends a message through the gateway's control API (platform "local") and
prints the answer. Without an argument, a small interactive session: one
message per line, /quit or Ctrl-D to leave. The answer survives a restart of
the gateway: if one happens meanwhile, chat waits for the next process.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("chat takes one message; quote it: hermes chat \"%s\"", strings.Join(args, " "))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c := controlClient()
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				defer cancel()
				replies, err := chatOnce(ctx, c, args[0])
				if err != nil {
					return err
				}
				for _, r := range replies {
					fmt.Fprintln(out, r)
				}
				return nil
			}
			return chatLoop(cmd.Context(), c, cmd.InOrStdin(), out, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting for an answer after this long")
	return cmd
}

// chatOnce sends text and waits for its answer, across gateway restarts.
func chatOnce(ctx context.Context, c *control.Client, text string) ([]string, error) {
	var a control.ChatAnswer
	err := retryRestarting(ctx, func() error {
		return c.Do(ctx, http.MethodPost, "/v1/chat", control.ChatRequest{Text: text}, &a, http.StatusOK, http.StatusAccepted)
	})
	if err != nil {
		return nil, err
	}
	for a.State == "pending" {
		id := a.ID
		err := retryRestarting(ctx, func() error {
			return c.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/chat/%d?wait=30", id), nil, &a, http.StatusOK, http.StatusAccepted)
		})
		if err != nil {
			return nil, err
		}
	}
	if len(a.Replies) == 0 {
		return nil, fmt.Errorf("the gateway finished the message without an answer (%s): see `%s`", a.Note, hermesCmd("gateway logs"))
	}
	return a.Replies, nil
}

// retryRestarting retries while the gateway is between processes: a 503
// from a draining gateway, or a connection cut by its exit.
func retryRestarting(ctx context.Context, f func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		var apiErr *control.APIError
		transient := errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable
		if !errors.As(err, &apiErr) && !errors.Is(err, control.ErrNotListening) && ctx.Err() == nil {
			transient = true // the connection dropped as the old process exited
		}
		if !transient {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer in time: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func chatLoop(ctx context.Context, c *control.Client, in io.Reader, out io.Writer, timeout time.Duration) error {
	tty := isTerminal(os.Stdin) && in == os.Stdin
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	if tty {
		fmt.Fprintln(out, "Talking to your agent through hermes-gateway. /new starts over, /quit leaves.")
	}
	for {
		if tty {
			fmt.Fprint(out, "you> ")
		}
		if !sc.Scan() {
			if tty {
				fmt.Fprintln(out)
			}
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		}
		tctx, cancel := context.WithTimeout(ctx, timeout)
		replies, err := chatOnce(tctx, c, line)
		cancel()
		if err != nil {
			return err
		}
		for _, r := range replies {
			if tty {
				fmt.Fprintf(out, "agent> %s\n", r)
			} else {
				fmt.Fprintln(out, r)
			}
		}
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
