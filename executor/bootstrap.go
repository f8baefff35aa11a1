package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/internal/execenv"
)

// ServeIfStarted serves as an executor or as an executor's worker when the
// environment says this process was started as one (see package execenv,
// and WorkerConfigFromEnv), running the program's registered pipelines,
// until it is told to stop. It reports whether the process was started so; a process that
// was should exit when it returns, with a non-zero status if err is set.
func ServeIfStarted() (started bool, err error) {
	wcfg, isWorker, err := WorkerConfigFromEnv()
	switch {
	case err != nil:
		return true, err
	case isWorker:
		return true, serveWorker(wcfg)
	case os.Getenv(execenv.Executor) != "":
		return true, serveExecutor()
	}
	return false, nil
}

// serveWorker serves an executor as its worker child until the executor
// closes the worker's input.
func serveWorker(cfg WorkerConfig) error {
	logger, err := envLogger()
	if err != nil {
		return err
	}
	return runUntilStopped(true, func(ctx context.Context) (*Daemon, error) {
		return StartWorker(ctx, cfg, logger.With("worker", os.Getpid()))
	})
}

// serveExecutor runs an executor daemon configured by the environment.
func serveExecutor() error {
	logger, err := envLogger()
	if err != nil {
		return err
	}
	cfg, err := daemonConfigFromEnv()
	if err != nil {
		return err
	}
	cfg.Logger = logger
	return runUntilStopped(os.Getenv(execenv.WatchStdin) != "", func(ctx context.Context) (*Daemon, error) {
		return StartDaemon(ctx, cfg)
	})
}

// daemonConfigFromEnv reads a daemon's configuration from the variables of
// package execenv, over DefaultDaemonConfig.
func daemonConfigFromEnv() (DaemonConfig, error) {
	cfg := DefaultDaemonConfig()
	env := func(key string, dst *string) {
		if v := os.Getenv(key); v != "" {
			*dst = v
		}
	}
	env(execenv.Bind, &cfg.GossipAddr)
	env(execenv.RPCBind, &cfg.RPCAddr)
	env(execenv.Advertise, &cfg.AdvertiseHost)
	env(execenv.Name, &cfg.Name)
	env(execenv.WorkDir, &cfg.WorkDir)
	env(execenv.GossipProfile, &cfg.GossipProfile)
	if v := os.Getenv(execenv.Join); v != "" {
		cfg.Seeds = strings.Split(v, ",")
	}
	if v := os.Getenv(execenv.Cores); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("%s=%q: want a positive integer", execenv.Cores, v)
		}
		cfg.Cores = n
	}
	if v := os.Getenv(execenv.Memory); v != "" {
		n, err := bytesize.Parse(v)
		if err != nil {
			return cfg, fmt.Errorf("%s=%q: %w", execenv.Memory, v, err)
		}
		cfg.Memory = n
	}
	cfg.Secret = []byte(strings.TrimSpace(os.Getenv(execenv.Secret)))
	if os.Getenv(execenv.SecretOnStdin) != "" {
		secret, err := execenv.ReadSecretLine(os.Stdin)
		if err != nil {
			return cfg, err
		}
		cfg.Secret = secret
	} else if _, err := cfg.UseLocalSecret(); err != nil {
		return cfg, err
	}
	cfg.InsecureTransport = os.Getenv(execenv.InsecureTransport) == "true"
	var err error
	cfg.TLS, cfg.ClientTLS, err = auth.TLSConfigs(os.Getenv(execenv.TLSCert), os.Getenv(execenv.TLSKey),
		os.Getenv(execenv.TLSCA), os.Getenv(execenv.TLSClientAuth) == "true")
	return cfg, err
}

// runUntilStopped starts a daemon and runs it until SIGINT or SIGTERM, or
// with watchStdin until the standard input closes, then closes it.
func runUntilStopped(watchStdin bool, start func(context.Context) (*Daemon, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	d, err := start(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-d.Done():
	}
	return errors.Join(err, d.Close())
}

// envLogger is an executor's logger, at the level EMBER_LOG_LEVEL says.
func envLogger() (*slog.Logger, error) {
	level := slog.LevelInfo
	if v := os.Getenv(execenv.LogLevel); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", execenv.LogLevel, v, err)
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}
