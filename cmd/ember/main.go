// Command ember runs Ember's executors, examples and benchmarks.
//
//	ember run dotproduct|wordcount|pagerank|logreg [flags] [--master URL]
//	ember bench [workload…] | ember bench cluster | ember bench recovery
//	ember chaos [--executors N] [--jobs N] [--kills N] [--scenario NAME]
//	ember executor [--join HOST:PORT,…] [--bind ADDR] [--rpc-bind ADDR] [--cores N] [--memory SIZE] [--secret-file FILE]
//	ember config [--config FILE]
//	ember ui-token [--secret-file FILE]
//	ember version
//	ember completion bash|zsh|fish|powershell
//
// Exit status: 0 on success, 1 when the work failed, 2 for a command line
// that does not parse (an unknown command, flag, example, benchmark or
// scenario, a bad flag value).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/ember-go/ember/internal/execenv"
	"github.com/ember-go/ember/internal/program"
	"github.com/ember-go/ember/rdd"
	"github.com/spf13/cobra"
)

func main() {
	rdd.Init() // a local-cluster master starts this program as its executors
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		// Errors from package rdd already say "ember:".
		fmt.Fprintln(os.Stderr, "ember:", strings.TrimPrefix(err.Error(), "ember: "))
		var usage usageError
		// cobra reports an unknown subcommand of the root with an
		// untyped error of its own.
		if errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line that does not parse.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// oneOf accepts the arguments that are among names; another is a usage
// error that names them.
func oneOf(what string, names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		for _, a := range args {
			if !slices.Contains(names, a) {
				return usageError{fmt.Errorf("unknown %s %q: want one of %s", what, a, strings.Join(names, ", "))}
			}
		}
		return nil
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ember",
		Short:         "Ember: a Spark-like RDD dataflow engine for Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("master", rdd.DefaultMaster, "where tasks run: local, local[N], local[*], local-cluster[N], local-cluster[N,C] or ember://host:port,…")
	root.PersistentFlags().String("config", "", "configuration file (default: the first ember.yaml, .toml or .json in ., $HOME/.ember, /etc/ember)")
	root.PersistentFlags().StringArray("conf", nil, "a setting, key=value (repeatable; keys in docs/configuration.md)")
	root.PersistentFlags().Bool("no-progress", false, "no progress line on the terminal (there is none when standard error is not a terminal)")
	root.PersistentFlags().String("log-level", "info", "debug, info, warn or error")
	root.PersistentFlags().String("log-format", "text", "text or json")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return setUpLogging(cmd) }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRun(), newBench(), newExecutor(), newChaos(), newConfig(), newUIToken(), newVersion())
	return root
}

// setUpLogging makes the default logger what --log-level and --log-format
// say; executors a local cluster starts log at the same level.
func setUpLogging(cmd *cobra.Command) error {
	levelText, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelText)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", levelText)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, opts)))
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", format)}
	}
	if cmd.Flags().Changed("log-level") {
		os.Setenv(execenv.LogLevel, levelText)
	}
	return nil
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version, the Go version and the build id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			version := "(unknown)"
			if info, ok := debug.ReadBuildInfo(); ok {
				version = info.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ember %s, %s %s/%s, build %s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, program.BuildID())
			return nil
		},
	}
}
