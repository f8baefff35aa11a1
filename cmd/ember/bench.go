package main

import (
	"fmt"
	"github.com/ember-go/ember/rdd"
	"runtime"
	"text/tabwriter"

	"github.com/ember-go/ember/internal/bench"
	"github.com/spf13/cobra"
)

func newBench() *cobra.Command {
	var (
		size int64
		runs int
	)
	cmd := &cobra.Command{
		Use:   "bench [workload…]",
		Short: "Time the engine beside a hand-written Go baseline of the same work",
		Long: "Workloads: " + fmt.Sprint(bench.Names) + " (default: all).\n" +
			"Each runs --runs times, alternating engine and baseline; the best time of each is shown.",
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				names = bench.Names
			}
			return withSession(cmd, func(s *rdd.Session) error { return runBench(cmd, s, names, size, runs) })
		},
	}
	cmd.Flags().Int64Var(&size, "size", 0, "elements (bytes of text for wordcount); 0: the documented default")
	cmd.Flags().IntVar(&runs, "runs", 5, "runs of each side")
	return cmd
}

func runBench(cmd *cobra.Command, s *rdd.Session, names []string, size int64, runs int) error {
	ctx := cmd.Context()
	out := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintf(out, "workload\tengine\tbaseline\tratio\ttarget\tthroughput (engine / baseline)\t\n")
	for _, name := range names {
		w, err := bench.New(ctx, s, name, size)
		if err != nil {
			return err
		}
		f, err := bench.Measure(ctx, w, runs)
		w.Close()
		if err != nil {
			return err
		}
		target := "reported"
		if f.Target > 0 {
			target = fmt.Sprintf("≤ %.1f", f.Target)
			if f.Ratio() > f.Target {
				target += "  MISSED"
			}
		}
		throughput := ""
		if f.Bytes > 0 {
			e, b := f.Throughput()
			throughput = fmt.Sprintf("%.0f / %.0f MB/s", e, b)
		}
		fmt.Fprintf(out, "%s\t%.1f ms\t%.1f ms\t%.2f\t%s\t%s\t\n", f.Name,
			f.Engine.Seconds()*1000, f.Baseline.Seconds()*1000, f.Ratio(), target, throughput)
	}
	out.Flush()
	fmt.Fprintf(cmd.OutOrStdout(), "master %s, GOMAXPROCS %d, %s/%s\n", s.Config().Master, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	return nil
}
