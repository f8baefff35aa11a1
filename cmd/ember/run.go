package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ember-go/ember/examples/dotproduct"
	"github.com/ember-go/ember/examples/logreg"
	"github.com/ember-go/ember/examples/pagerank"
	"github.com/ember-go/ember/examples/wordcount"
	"github.com/ember-go/ember/internal/config"
	"github.com/ember-go/ember/rdd"
	"github.com/spf13/cobra"
)

func newRun() *cobra.Command {
	run := &cobra.Command{
		Use:   "run <example>",
		Short: "Run an example job",
		Args:  oneOf("example", "dotproduct", "wordcount", "pagerank", "logreg"),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	run.PersistentFlags().Bool("keep-ui", false, "once the job ends, keep serving the web UI until interrupted (Ctrl-C)")
	run.AddCommand(newRunDotProduct(), newRunWordCount(), newRunPageRank(), newRunLogReg())
	return run
}

func newRunPageRank() *cobra.Command {
	cfg := pagerank.Default()
	cmd := &cobra.Command{
		Use:   "pagerank",
		Short: "PageRank over a generated link graph: cached links, an iterated Join → FlatMap → ReduceByKey",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withSession(cmd, func(s *rdd.Session) error {
				start := time.Now()
				res, err := pagerank.Run(cmd.Context(), s, cfg)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				for _, r := range res.Top {
					fmt.Fprintf(out, "page %8d  rank %.4f\n", r.Key, r.Value)
				}
				fmt.Fprintf(out, "%d pages, %d iterations, sum of ranks %.1f; time: %v on %s\n",
					cfg.Pages, cfg.Iterations, res.Total, time.Since(start).Round(time.Millisecond), s.Config().Master)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.Int64Var(&cfg.Pages, "pages", cfg.Pages, "pages of the generated graph")
	f.IntVar(&cfg.Links, "links", cfg.Links, "out-links per page")
	f.IntVar(&cfg.Iterations, "iterations", cfg.Iterations, "iterations")
	f.IntVar(&cfg.Partitions, "partitions", 0, "partitions (default: one per task slot)")
	f.IntVar(&cfg.Top, "top", cfg.Top, "how many of the best-ranked pages to print")
	return cmd
}

func newRunLogReg() *cobra.Command {
	cfg := logreg.Default()
	cmd := &cobra.Command{
		Use:   "logreg",
		Short: "Logistic regression by gradient descent over a cached dataset: an iterated Map → Reduce",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withSession(cmd, func(s *rdd.Session) error {
				start := time.Now()
				res, err := logreg.Run(cmd.Context(), s, cfg)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "weights %.4f\n", res.Weights)
				fmt.Fprintf(out, "accuracy %.4f on %d points, %d iterations; time: %v on %s\n",
					res.Accuracy, cfg.Points, cfg.Iterations, time.Since(start).Round(time.Millisecond), s.Config().Master)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.Int64Var(&cfg.Points, "points", cfg.Points, "generated points")
	f.IntVar(&cfg.Dims, "dims", cfg.Dims, "features per point")
	f.IntVar(&cfg.Iterations, "iterations", cfg.Iterations, "iterations")
	f.IntVar(&cfg.Partitions, "partitions", 0, "partitions (default: one per task slot)")
	return cmd
}

// withSession runs f on a session opened with the command's flags, and
// closes it afterwards.
func withSession(cmd *cobra.Command, f func(s *rdd.Session) error) error {
	cfg, _, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	s, err := rdd.NewSession(rdd.WithConfig(cfg))
	if err != nil {
		return err
	}
	if addr := s.UIAddr(); addr != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "ember: web UI at http://%s/ (JSON under /api/v1, metrics at /metrics)\n", addr)
	}
	if quiet, _ := cmd.Flags().GetBool("no-progress"); !quiet && isTerminal(os.Stderr) {
		stop := startProgress(s, os.Stderr)
		defer stop()
	}
	err = f(s)
	if errors.Is(err, rdd.ErrOutputExists) {
		err = fmt.Errorf("%w; run again with --overwrite to replace it", err)
	}
	if keep, _ := cmd.Flags().GetBool("keep-ui"); keep && s.UIAddr() != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "ember: the job ended; the web UI stays at http://%s/ until interrupted (Ctrl-C)\n", s.UIAddr())
		<-cmd.Context().Done()
	}
	return errors.Join(err, s.Close())
}

// loadConfig reads the configuration in its layers: defaults, the file
// (--config, or ember.yaml found), EMBER_* variables, then --master and
// --conf.
func loadConfig(cmd *cobra.Command) (rdd.Config, []config.Setting, error) {
	file, _ := cmd.Flags().GetString("config")
	opts := config.LoadOptions{File: file, Warn: func(w string) { fmt.Fprintln(cmd.ErrOrStderr(), "ember: warning:", w) }}
	if f := cmd.Flags().Lookup("master"); f != nil && f.Changed {
		opts.Flags = append(opts.Flags, [2]string{"master", f.Value.String()})
		opts.FlagSource = append(opts.FlagSource, "flag --master")
	}
	conf, _ := cmd.Flags().GetStringArray("conf")
	for _, kv := range conf {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return rdd.Config{}, nil, usageError{fmt.Errorf("--conf %q: want key=value", kv)}
		}
		opts.Flags = append(opts.Flags, [2]string{key, value})
		opts.FlagSource = append(opts.FlagSource, "flag --conf "+key)
	}
	cfg, settings, err := config.Registered[rdd.Config]().Load(opts)
	var bad *config.SourceError
	if errors.As(err, &bad) && strings.HasPrefix(bad.Source, "flag") {
		err = usageError{err} // a bad flag value is a command line that does not parse
	}
	return cfg, settings, err
}

func newRunDotProduct() *cobra.Command {
	var cfg dotproduct.Config
	cmd := &cobra.Command{
		Use:   "dotproduct",
		Short: "Dot product of two arrays: Zip → Map → Reduce, products saved as Arrow files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withSession(cmd, func(s *rdd.Session) error { return runDotProduct(cmd, s, cfg) })
		},
	}
	cmd.Flags().Int64Var(&cfg.N, "size", 10_000_000, "elements per array")
	cmd.Flags().IntVar(&cfg.Partitions, "partitions", 0, "partitions (default: one per task slot)")
	cmd.Flags().StringVar(&cfg.OutDir, "out", "", "directory for the products (default: a new temporary directory)")
	cmd.Flags().StringVar(&cfg.Input, "input", "", "Parquet or Arrow file or directory with float64 columns X and Y (default: generated arrays)")
	cmd.Flags().StringVar(&cfg.OutDir, "output", "", "the same as --out")
	cmd.Flags().BoolVar(&cfg.Overwrite, "overwrite", false, "replace --out if it exists (once the new output is complete)")
	return cmd
}

func runDotProduct(cmd *cobra.Command, s *rdd.Session, cfg dotproduct.Config) error {
	if cfg.N <= 0 && cfg.Input == "" {
		return fmt.Errorf("--size is %d: want a positive number of elements", cfg.N)
	}
	if cfg.OutDir == "" {
		dir, err := os.MkdirTemp("", "ember-dotproduct-*")
		if err != nil {
			return err
		}
		cfg.OutDir = dir + "/products"
	}
	res, err := dotproduct.Run(cmd.Context(), s, cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if cfg.Input != "" {
		fmt.Fprintf(out, "dot product of the arrays in %s: %.1f\n", cfg.Input, res.Dot)
	} else {
		fmt.Fprintf(out, "dot product of %d elements: %.1f (plain loop: %.1f)\n", cfg.N, res.Dot, res.Expected)
	}
	fmt.Fprintf(out, "products saved in %s\n", res.Saved)
	if err := printParts(out, res.Saved); err != nil {
		return err
	}
	fmt.Fprintf(out, "time: %v on %s\n", res.Elapsed.Round(time.Millisecond), s.Config().Master)
	return nil
}

func newRunWordCount() *cobra.Command {
	var (
		input      string
		bytes      int64
		partitions int
		top        int
		output     string
		format     string
	)
	cmd := &cobra.Command{
		Use:   "wordcount",
		Short: "Count words of a text file, or of generated text",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "parquet" {
				return usageError{fmt.Errorf("--format %q: want csv or parquet", format)}
			}
			return withSession(cmd, func(s *rdd.Session) error {
				start := time.Now()
				counts, err := wordcount.Pipeline.Run(cmd.Context(), s, wordcount.Config{
					Input: input, Bytes: bytes, Partitions: partitions, Output: output, Format: format,
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				for _, c := range counts[:min(top, len(counts))] {
					fmt.Fprintf(out, "%8d %s\n", c.Value, c.Key)
				}
				if output != "" {
					if err := printParts(out, output); err != nil {
						return err
					}
				}
				fmt.Fprintf(out, "%d distinct words; time: %v on %s\n", len(counts), time.Since(start).Round(time.Millisecond), s.Config().Master)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "text file, directory or glob (default: generated text)")
	cmd.Flags().Int64Var(&bytes, "bytes", 100<<20, "size of the generated text")
	cmd.Flags().IntVar(&partitions, "partitions", 0, "partitions (default: one per task slot)")
	cmd.Flags().IntVar(&top, "top", 10, "how many of the most frequent words to print")
	cmd.Flags().StringVar(&output, "output", "", "directory to save the counts in")
	cmd.Flags().StringVar(&format, "format", "csv", "format of --output: csv or parquet")
	return cmd
}

// printParts says which executor wrote the parts of a saved output, as its
// _SUCCESS file records.
func printParts(out io.Writer, dir string) error {
	parts, err := rdd.SavedParts(dir)
	if err != nil {
		return err
	}
	by := map[string][]string{}
	var executors []string
	for _, p := range parts {
		if by[p.Executor] == nil {
			executors = append(executors, p.Executor)
		}
		by[p.Executor] = append(by[p.Executor], p.Name)
	}
	slices.Sort(executors)
	for _, e := range executors {
		fmt.Fprintf(out, "  %s wrote %s\n", e, strings.Join(by[e], " "))
	}
	return nil
}
