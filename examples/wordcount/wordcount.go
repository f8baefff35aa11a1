// Package wordcount counts words, the "hello world" of dataflow engines:
// TextFile (or generated text) → FlatMap (split) → Map (word, 1) →
// ReduceByKey (sum) → SortBy (count, descending).
package wordcount

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"

	"github.com/ember-go/ember/rdd"
)

// Config says what to count and where to save the counts.
type Config struct {
	Input      string // a text file, directory or glob; "" counts generated text
	Bytes      int64  // the size of the generated text
	Partitions int    // <= 0: the session's default parallelism
	Output     string // a directory to save the counts in; "" saves nothing
	Format     string // of Output: csv (default) or parquet
}

// Pipeline counts words as cfg says, registered so that cluster executors
// can rebuild it: the program calls rdd.Init first in main.
var Pipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, cfg Config) ([]rdd.Pair[string, int64], error) {
	lines := GenerateText(s, cfg.Bytes, cfg.Partitions)
	if cfg.Input != "" {
		lines = rdd.TextFile(s, cfg.Input, cfg.Partitions)
	}
	sorted := Counts(lines, cfg.Partitions)
	if cfg.Output != "" {
		sorted.Cache() // saved and returned from one computation
		defer sorted.Unpersist()
		if err := Save(ctx, sorted, cfg.Output, cmp.Or(cfg.Format, "csv")); err != nil {
			return nil, err
		}
	}
	return sorted.Collect(ctx)
})

// Count returns every distinct word of lines with its count, most frequent
// first.
func Count(ctx context.Context, lines *rdd.RDD[string], partitions int) ([]rdd.Pair[string, int64], error) {
	return Counts(lines, partitions).Collect(ctx)
}

// Counts is the RDD of Count: the words of lines with their counts, most
// frequent first.
func Counts(lines *rdd.RDD[string], partitions int) *rdd.RDD[rdd.Pair[string, int64]] {
	return rdd.SortBy(ByWord(lines, partitions), func(p rdd.Pair[string, int64]) int64 { return p.Value }, false, partitions)
}

// ByWord is the words of lines with their counts, in no order.
func ByWord(lines *rdd.RDD[string], partitions int) *rdd.RDD[rdd.Pair[string, int64]] {
	words := rdd.FlatMap(lines, strings.Fields)
	ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.Pair[string, int64]{Key: w, Value: 1} })
	return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b }, partitions)
}

// Row is a word count as saved to files.
type Row struct {
	Word  string `ember:"word"`
	Count int64  `ember:"count"`
}

// Save writes counts to dir as CSV (a word,count header) or Parquet.
func Save(ctx context.Context, counts *rdd.RDD[rdd.Pair[string, int64]], dir, format string) error {
	rows := rdd.Map(counts, func(p rdd.Pair[string, int64]) Row { return Row{p.Key, p.Value} })
	switch format {
	case "csv":
		return rows.SaveAsCSV(ctx, dir)
	case "parquet":
		return rows.SaveAsParquet(ctx, dir)
	}
	return fmt.Errorf("output format %q: want csv or parquet", format)
}

// Vocabulary is the words GenerateText draws from.
var Vocabulary = strings.Fields(`the of and to in a is that for it as was with be by on not he i this are
or his from at which but have an they you were her she there been one all we their has would when if
so no will more can out up said about what some its into them than only other time new could these two
may first then do any like my now over such our man me even most made after also did many before must
through back years where much your way well down should because each just those people how too little
state good very make world still own see men work long get here between both life being under never
day same another know while last might us great old year off come since against go came right used take
three ember spark arrow gossip lineage partition shuffle stage executor driver`)

// GenerateText makes a deterministic text of about bytesTotal bytes in
// partitions partitions: lines of words drawn from Vocabulary with a skewed
// (Zipf) frequency, as natural text has.
func GenerateText(s *rdd.Session, bytesTotal int64, partitions int) *rdd.RDD[string] {
	if partitions <= 0 {
		partitions = s.DefaultParallelism()
	}
	perPart := bytesTotal / int64(partitions)
	return rdd.Generate(s, partitions, func(p int) iter.Seq[string] {
		return Lines(p, perPart)
	})
}

// Lines yields the lines of partition p of GenerateText's text.
func Lines(p int, bytes int64) iter.Seq[string] {
	return func(yield func(string) bool) {
		rng := rand.New(rand.NewPCG(uint64(p), 42))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(Vocabulary)-1))
		var b strings.Builder
		for written := int64(0); written < bytes; {
			b.Reset()
			for range 12 {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(Vocabulary[zipf.Uint64()])
			}
			written += int64(b.Len() + 1)
			if !yield(b.String()) {
				return
			}
		}
	}
}
