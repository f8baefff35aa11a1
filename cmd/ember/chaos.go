package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ember-go/ember/cmd/ember/internal/chaos"
	"github.com/spf13/cobra"
)

func newChaos() *cobra.Command {
	cfg := chaos.Config{Executors: 4, Cores: 1, Jobs: 20, Kills: 20, KillEvery: 400 * time.Millisecond, Seed: 1}
	var (
		keep     bool
		scenario string
	)
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run jobs on a local cluster while killing its executors, and check every result",
		Long: `Start a cluster of ember executor processes on loopback, run a mix of multi-stage
jobs on it (word count, join and sort, cached PageRank, the seed dot product
with its products saved) and, meanwhile, kill a random executor with SIGKILL
every --kill-every on average (never the last one), starting a new one in its
place most of the time. Every job's result is compared with local mode's, and
every save checked for parts committed exactly once. The run ends once it has
done --jobs jobs and --kills kills; it fails if a job failed or differed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Binary, err = os.Executable(); err != nil {
				return err
			}
			if cfg.Dir, err = os.MkdirTemp("", "ember-chaos-*"); err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(cfg.Dir)
			}
			cfg.Log = cmd.OutOrStdout()
			if scenario != "" {
				if err := oneOf("scenario", chaos.Scenarios...)(cmd, []string{scenario}); err != nil {
					return err
				}
				if err := chaos.Scenario(cmd.Context(), cfg, scenario); err != nil {
					return fmt.Errorf("scenario %s: %w", scenario, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "scenario %s: ok\n", scenario)
				return nil
			}
			rep, err := chaos.Run(cmd.Context(), cfg)
			fmt.Fprintf(cmd.OutOrStdout(), "%d jobs %v, %d kills, %d executors started, %d results differing from local mode, in %v\n",
				rep.Jobs, rep.ByKind, rep.Kills, rep.Starts, len(rep.Mismatches), rep.Elapsed.Round(time.Millisecond))
			if keep {
				fmt.Fprintf(cmd.OutOrStdout(), "executor logs and outputs kept in %s\n", cfg.Dir)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Executors, "executors", cfg.Executors, "executors at once")
	f.IntVar(&cfg.Cores, "cores", cfg.Cores, "task slots per executor")
	f.IntVar(&cfg.Jobs, "jobs", cfg.Jobs, "jobs to run, at least")
	f.IntVar(&cfg.Kills, "kills", cfg.Kills, "executors to kill, at least")
	f.DurationVar(&cfg.KillEvery, "kill-every", cfg.KillEvery, "mean time between kills")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the random kills")
	f.BoolVar(&keep, "keep", false, "keep the executors' logs and the outputs")
	f.StringVar(&scenario, "scenario", "", fmt.Sprintf("run one targeted case instead: one of %v", chaos.Scenarios))
	return cmd
}
