// Command floor is the least a socket-activated Go service can do, run by
// the benchmarks (scripts/bench) under the same unit directives as
// hermes-gateway.service: adopt the socket systemd passes, send READY=1,
// answer every request with a constant /v1/status-shaped JSON body. On
// SIGTERM it sends STOPPING=1, answers what it accepted and exits 0 (with
// pkg/httpserve, as the gateway does: net/http's own Shutdown drops a
// connection whose request it had not read yet, a failed request for a
// client). Its
// restart time is the physical limit on a machine: what systemd, the
// kernel and the Go runtime cost, with no work of the gateway's own.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hermes-gateway/hermes/pkg/httpserve"
)

func main() {
	ls, err := activation.Listeners()
	if err != nil || len(ls) == 0 {
		fmt.Fprintln(os.Stderr, "floor: no socket from systemd (LISTEN_FDS):", err)
		os.Exit(1)
	}
	body := []byte(`{"version":"floor","pid":` + strconv.Itoa(os.Getpid()) + `,"state":"ready"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	srv := httpserve.Serve(ls[0], h, httpserve.Options{Log: slog.New(slog.DiscardHandler)})
	daemon.SdNotify(false, daemon.SdNotifyReady)
	<-sigs
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
