package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/gateway"
	"github.com/hermes-gateway/hermes/pkg/sdnotify"
)

// The gateway has no pprof endpoint. To see where a slow start goes, this
// runs gateway.Run in this process (the daemon's own code, with a discarding
// logger and a notify socket of ours) on a copy of a populated store, many
// times, under runtime/pprof's CPU profiler, and keeps `go tool pprof -top`
// of the result for the report.

// profileStartup profiles n starts (to READY=1, then a stop) of a gateway
// on a copy of the store in dir. It returns the profile's path and its top
// functions.
func profileStartup(work, dir string, n int) (string, string, error) {
	pdir := filepath.Join(work, "profile")
	os.RemoveAll(pdir)
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return "", "", err
	}
	// A copy: each start writes a little (stop time, pruning), and the
	// figures must not see a store the profile changed.
	if out, err := exec.Command("cp", "-a", dir, filepath.Join(pdir, "state")).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copy the store: %v: %s", err, out)
	}
	cfg := filepath.Join(pdir, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[gateway]\nstate_dir = %q\n", filepath.Join(pdir, "state"))), 0o600); err != nil {
		return "", "", err
	}
	notifyPath := filepath.Join(pdir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return "", "", err
	}
	defer ln.Close()
	old, had := os.LookupEnv("NOTIFY_SOCKET")
	os.Setenv("NOTIFY_SOCKET", notifyPath)
	defer func() {
		if had {
			os.Setenv("NOTIFY_SOCKET", old)
		} else {
			os.Unsetenv("NOTIFY_SOCKET")
		}
	}()

	prof := filepath.Join(pdir, "startup.cpu.pprof")
	f, err := os.Create(prof)
	if err != nil {
		return "", "", err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return "", "", err
	}
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- gateway.Run(ctx, gateway.Options{
				ConfigPath:  cfg,
				ControlPath: filepath.Join(pdir, "control.sock"),
				Log:         slog.New(slog.DiscardHandler),
				Notify:      sdnotify.New(),
				Signals:     make(chan os.Signal),
			})
		}()
		ready := false
		ln.SetReadDeadline(time.Now().Add(30 * time.Second))
		for !ready {
			k, err := ln.Read(buf)
			if err != nil {
				break
			}
			ready = strings.Contains(string(buf[:k]), "READY=1")
		}
		cancel()
		code := <-done
		if !ready || code != gateway.ExitStopped {
			pprof.StopCPUProfile()
			f.Close()
			return "", "", fmt.Errorf("in-process gateway: ready %v, exit %d", ready, code)
		}
	}
	pprof.StopCPUProfile()
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=22", prof).CombinedOutput()
	if err != nil {
		return prof, "", fmt.Errorf("go tool pprof: %v: %s", err, out)
	}
	// Keep the table: drop pprof's header lines about the file and type.
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		keep = append(keep, l)
	}
	return prof, strings.Join(keep, "\n"), nil
}
