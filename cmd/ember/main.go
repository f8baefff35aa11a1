// Command ember runs Ember's examples and benchmarks.
//
//	ember run dotproduct [--size N] [--partitions P] [--out DIR] [--master URL]
//	ember run wordcount [--input PATH | --bytes N] [--master URL]
//	ember bench [dotproduct|dotproduct-batches|wordcount|sort|all]
//	ember chaos [--executors N] [--jobs N] [--kills N]
//	ember executor [--join HOST:PORT,…] [--bind ADDR] [--rpc-bind ADDR] [--cores N] [--memory SIZE] [--secret-file FILE]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
		os.Exit(1)
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
	root.AddCommand(newRun(), newBench(), newExecutor(), newChaos(), newConfig())
	return root
}
