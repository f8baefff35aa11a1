package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ember-go/ember/rdd"

	"github.com/ember-go/ember/cmd/ember/internal/bench"
	"github.com/ember-go/ember/cmd/ember/internal/chaos"
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
		Args: oneOf("benchmark", bench.Names...),
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				names = bench.Names
			}
			return withSession(cmd, func(s *rdd.Session) error { return runBench(cmd, s, names, size, runs) })
		},
	}
	cmd.Flags().Int64Var(&size, "size", 0, "elements (bytes of text for wordcount); 0: the documented default")
	cmd.Flags().IntVar(&runs, "runs", 5, "runs of each side")
	cmd.AddCommand(newBenchCluster(), newBenchRecovery())
	return cmd
}

func newBenchRecovery() *cobra.Command {
	var (
		runs, detections int
		work             int64
	)
	cmd := &cobra.Command{
		Use:   "recovery",
		Short: "Time a job with and without an executor killed halfway, and the detection of killed executors",
		Long: `Start 3 executor processes on loopback. Run a 2-stage job (CPU-bound map tasks,
a shuffle, a reduce) on its own and with the executor that ran the most map tasks
killed with SIGKILL once half the map tasks are done; both answers are checked
against local mode. Target: the kill costs at most the lost map tasks' time + 2 s.
Then kill an executor --detections times and time how long the driver takes to
count it lost (target on loopback: ≤ 2 s).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "ember-recovery-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg := chaos.Config{Binary: bin, Dir: dir, Executors: 3, Cores: 1}
			f, err := chaos.Recovery(cmd.Context(), cfg, work, runs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			verdict := "met"
			if !f.Met() {
				verdict = "MISSED"
			}
			fmt.Fprintf(out, "2-stage job on 3 executors: %s clean, %s with one killed halfway through stage 1\n", ms(f.Clean), ms(f.Killed))
			fmt.Fprintf(out, "the kill cost %s; the %d lost map tasks had taken %s: target ≤ %s + 2 s, %s\n",
				ms(f.Extra()), f.Lost, ms(f.LostWork), ms(f.LostWork), verdict)
			times, err := chaos.Detection(cmd.Context(), cfg, detections)
			if err != nil {
				return err
			}
			slices.Sort(times)
			verdict = "met"
			if times[len(times)/2] > 2*time.Second {
				verdict = "MISSED"
			}
			fmt.Fprintf(out, "SIGKILL to loss, %d kills: median %s, min %s, max %s: target ≤ 2 s, %s\n",
				len(times), ms(times[len(times)/2]), ms(times[0]), ms(times[len(times)-1]), verdict)
			fmt.Fprintf(out, "GOMAXPROCS %d, %s/%s\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	cmd.Flags().IntVar(&runs, "runs", 3, "runs of each side (best kept)")
	cmd.Flags().Int64Var(&work, "work", 10_000_000, "elements per map task")
	cmd.Flags().IntVar(&detections, "detections", 10, "kills timed for the detection")
	return cmd
}

func newBenchCluster() *cobra.Command {
	var (
		size      int64
		runs      int
		executors int
	)
	cmd := &cobra.Command{
		Use:   "cluster [workload…]",
		Short: "Time jobs on local-cluster[N] beside local[N] and a hand-written Go baseline",
		Long: "Workloads: " + fmt.Sprint(bench.ClusterNames) + " (default: all).\n" +
			"dotproduct and wordcount read cached data (targets: cluster/local ≤ 1.5); tasks runs a job of\n" +
			fmt.Sprint(bench.EmptyTasks) + " empty tasks (target ≥ 5000 tasks/s); latency is the median time of a one-task\n" +
			"job (target ≤ 10 ms). Each figure is the best of --runs runs.",
		Args: oneOf("cluster benchmark", bench.ClusterNames...),
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				names = bench.ClusterNames
			}
			ctx := cmd.Context()
			n := strconv.Itoa(executors)
			cluster, err := rdd.NewSession(rdd.WithMaster("local-cluster[" + n + "]"))
			if err != nil {
				return err
			}
			defer cluster.Close()
			local, err := rdd.NewSession(rdd.WithMaster("local[" + n + "]"))
			if err != nil {
				return err
			}
			defer local.Close()
			out := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(out, "workload\t%s\t%s\tcluster/local\tplain Go\ttarget\t\n", cluster.Config().Master, local.Config().Master)
			for _, name := range names {
				f, err := bench.MeasureCluster(ctx, cluster, local, name, size, runs)
				if err != nil {
					return err
				}
				var target string
				switch name {
				case "tasks":
					target = fmt.Sprintf("%.0f tasks/s (≥ %.0f)", f.TasksPerSecond(), f.Target)
				case "latency":
					target = fmt.Sprintf("median %.2f ms (≤ %.0f ms)", f.Cluster.Seconds()*1000, f.Target)
				default:
					target = fmt.Sprintf("≤ %.1f", f.Target)
				}
				if !f.Met() {
					target += "  MISSED"
				}
				fmt.Fprintf(out, "%s\t%s\t%s\t%.2f\t%s\t%s\t\n", name, ms(f.Cluster), ms(f.Local), f.Ratio(), ms(f.Baseline), target)
			}
			out.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "GOMAXPROCS %d, %s/%s\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	cmd.Flags().Int64Var(&size, "size", 0, "elements (bytes of text for wordcount); 0: the documented default")
	cmd.Flags().IntVar(&runs, "runs", 5, "timed runs")
	cmd.Flags().IntVar(&executors, "executors", 2, "executors of the local cluster, and slots of the local master")
	return cmd
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", d.Seconds()*1000) }

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
