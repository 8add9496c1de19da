// Command probe keeps asking the gateway for its status over the control
// socket, one connection per request, and reports what a client saw: how
// many requests were answered, refused or failed, the longest stall, and
// the gateway pids that answered. The demo and the benchmarks use it.
//
//	go run ./scripts/probe [--socket PATH] [--duration 10s] [--json]
//
// It stops at --duration or on SIGINT/SIGTERM and prints its summary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
)

type summary struct {
	Requests     int     `json:"requests"`
	Answered     int     `json:"answered"`
	Refused      int     `json:"refused"`
	Failed       int     `json:"failed"`
	FirstError   string  `json:"first_error,omitempty"`
	LongestStall float64 `json:"longest_stall_ms"`
	PIDs         []int   `json:"pids"`
	DurationMS   float64 `json:"duration_ms"`
}

func main() {
	sock := flag.String("socket", control.DefaultSocketPath(), "control socket")
	dur := flag.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	asJSON := flag.Bool("json", false, "print the summary as JSON")
	ready := flag.String("ready-file", "", "write this file once the first answer arrived")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	c := control.NewClient(*sock)
	var s summary
	start := time.Now()
	for ctx.Err() == nil {
		t0 := time.Now()
		// A request in flight when the probe is told to stop still gets
		// its answer: stopping must not count as a failure.
		rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		st, err := c.Status(rctx)
		cancel()
		s.Requests++
		if stall := float64(time.Since(t0).Microseconds()) / 1000; stall > s.LongestStall {
			s.LongestStall = stall
		}
		switch {
		case err == nil:
			s.Answered++
			if n := len(s.PIDs); n == 0 || s.PIDs[n-1] != st.PID {
				s.PIDs = append(s.PIDs, st.PID)
			}
			if *ready != "" && s.Answered == 1 {
				os.WriteFile(*ready, []byte("ok\n"), 0o600)
			}
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, control.ErrNotListening):
			s.Refused++
		default:
			s.Failed++
		}
		if err != nil && s.FirstError == "" {
			s.FirstError = err.Error()
		}
	}
	s.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(s)
		return
	}
	pids := make([]string, len(s.PIDs))
	for i, p := range s.PIDs {
		pids[i] = fmt.Sprint(p)
	}
	fmt.Printf("requests: %d, answered: %d, refused: %d, failed: %d, longest stall: %.1f ms, pids: %s\n",
		s.Requests, s.Answered, s.Refused, s.Failed, s.LongestStall, strings.Join(pids, " → "))
	if s.FirstError != "" {
		fmt.Printf("first error: %s\n", s.FirstError)
	}
}
