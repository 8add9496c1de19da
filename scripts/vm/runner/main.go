// Command runner is the VM test suite's guest side and its host-side table.
//
// In the guest (no arguments) it runs as root from hermes-vmtest.service,
// at every boot, acts as the user alice (uid 1000) through runuser with her
// real user manager and logind session, and writes one result line per
// scenario to the serial console and to /vmtest/results.jsonl on the
// run's payload disk. Its progress survives reboots in /var/lib/hermes-vmtest.
//
//	runner                      the guest suite (as root, in the VM)
//	runner ctl status|restart   talk to the control socket (as the user)
//	runner history DB CHAT      turns in a chat's stored conversation (as the user)
//	runner report FILE...       the host's table of result files; exit 1 on any failure
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/internal/vmtest"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/store"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 1:
		err = runGuest()
	case os.Args[1] == "ctl" && len(os.Args) == 3:
		err = ctl(os.Args[2])
	case os.Args[1] == "history" && len(os.Args) == 4:
		err = history(os.Args[2], os.Args[3])
	case os.Args[1] == "report":
		err = report(os.Args[2:])
	default:
		err = errors.New("usage: runner | runner ctl status|restart | runner history DB CHAT | runner report FILE...")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

// ctl is the user's side of the control socket: the gateway refuses any
// other uid (SO_PEERCRED), root included.
func ctl(what string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := control.NewClient(control.DefaultSocketPath())
	switch what {
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(st)
	case "restart":
		before, err := c.Status(ctx)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := c.Do(ctx, "POST", "/v1/restart", control.RestartRequest{Reason: "vmtest"}, nil, 202); err != nil {
			return err
		}
		// The next status request waits in the socket's backlog while the
		// gateway restarts: the first answer from another pid is the new one.
		for {
			st, err := c.Status(ctx)
			if err != nil {
				return fmt.Errorf("after POST /v1/restart: %w", err)
			}
			if st.PID != before.PID {
				fmt.Printf("{\"old_pid\":%d,\"new_pid\":%d,\"ms\":%d}\n", before.PID, st.PID, time.Since(t0).Milliseconds())
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("pid %d still answers after POST /v1/restart", before.PID)
			case <-time.After(20 * time.Millisecond): // the old process drains: ask again
			}
		}
	}
	return fmt.Errorf("ctl %s: want status or restart", what)
}

// history prints the turn count of a chat's conversation in the store (the
// gateway must be stopped: the store is locked while it runs).
func history(db, chat string) error {
	if _, err := strconv.ParseInt(chat, 10, 64); err != nil {
		return err
	}
	st, err := store.Open(db)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := router.NewHistory(st, 1000, 1<<20).Load("telegram", platform.ChatID(chat))
	if err != nil {
		return err
	}
	fmt.Println(c.Turns)
	return nil
}

// report prints the table of every result file and fails when any scenario
// failed, or a release did not finish.
func report(files []string) error {
	var all []vmtest.Result
	var problems []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		rs, err := vmtest.Parse(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		done := false
		for _, r := range rs {
			if r.Marker == vmtest.MarkDone {
				done = true
			}
		}
		if !done {
			problems = append(problems, fmt.Sprintf("%s: the guest did not finish (no %q marker)", filepath.Base(f), vmtest.MarkDone))
		}
		all = append(all, rs...)
	}
	failed := vmtest.Table(os.Stdout, all)
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d scenario(s) failed", failed))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// cmdOut runs a command with a deadline and returns its combined output and
// exit code (-1 when it could not run or timed out).
func cmdOut(timeout time.Duration, name string, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
		out = append(out, []byte(fmt.Sprintf("\n(timed out after %s)", timeout))...)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		out = append(out, []byte("\n"+err.Error())...)
	}
	return strings.TrimSpace(string(out)), code
}
