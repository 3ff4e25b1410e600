// Command echo is the load benchmarks' reference point: a bare echo
// server that answers every POST on /im/callback with the fixed OK envelope,
// verifying, decoding and storing nothing.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/labstack/echo/v4"
)

func main() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	ok := []byte(`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	e.POST("/im/callback", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, ok) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = e.Shutdown(context.Background())
	}()
	if err := e.Start(os.Getenv("IMCALLBACK_LISTEN")); err != nil && err != http.ErrServerClosed {
		os.Exit(1)
	}
}
