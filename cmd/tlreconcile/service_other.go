//go:build !windows

package main

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// underSCM is false: only Windows has a Service Control Manager.
func underSCM() bool { return false }

// serveSCM is never reached off Windows, since underSCM is false.
func serveSCM(context.Context, *slog.Logger, func(), time.Duration) (context.Context, func(error), error) {
	return nil, nil, errors.New("watch: no service control manager on this platform")
}
