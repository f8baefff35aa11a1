package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ember-go/ember/internal/config"
	"github.com/ember-go/ember/rdd"
	"github.com/ember-go/ember/storage"
	"github.com/spf13/cobra"
)

func newConfig() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, with where each value came from",
		Long: `Print every configuration key with its effective value and its source: the
default, the configuration file, an EMBER_* environment variable, or a flag.
Layers, each over the one before: defaults < file < environment < flags.

Examples:
  ember config
  EMBER_TASK_MAXFAILURES=8 ember config --config ./ember.yaml --master 'local[4]'
  ember config --markdown     # the key table of docs/configuration.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if markdown {
				fmt.Fprint(out, config.Registered[rdd.Config]().Markdown())
				return nil
			}
			cfg, settings, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "key\tvalue\tsource")
			for _, s := range settings {
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Key, s.Value, s.Source)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			// What memory.limit comes to in this process, as a local
			// session would size it (docs/memory.md).
			budget := storage.SizeBudget(cfg.MemoryBudget)
			_, err = fmt.Fprintf(out, "\nmemory budget (local mode): %d bytes, %.0f MiB (%s)\n", budget.Total, float64(budget.Total)/(1<<20), budget.Source)
			return err
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the documentation's table of keys instead")
	return cmd
}
