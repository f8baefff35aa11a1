package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/ember-go/ember/examples/wordcount"
	"github.com/ember-go/ember/rdd"
)

// DefaultScanBytes is the size of the data the scan workloads read.
const DefaultScanBytes = 500 << 20

// scanRow is a row of the CSV and Parquet scan data.
type scanRow struct {
	ID    int64
	Name  string
	Score float64
	Tag   string
}

// Scan is a workload that reads about size bytes of text, CSV or Parquet
// written to a temporary directory: the engine counts the elements of the
// source (which decodes every row), the baseline reads the same files with
// the same libraries by hand, one goroutine per file.
func Scan(ctx context.Context, s *rdd.Session, format string, size int64) (*Workload, error) {
	dir, err := os.MkdirTemp("", "ember-scan-*")
	if err != nil {
		return nil, err
	}
	files := runtime.GOMAXPROCS(0) * 2
	w := &Workload{Name: "scan-" + format, Close: func() { os.RemoveAll(dir) }}
	switch format {
	case "text":
		err = writeTextFiles(dir, files, size)
		w.Target = 1.5
		w.Engine = func(ctx context.Context) (any, error) { return rdd.TextFile(s, dir, 0).Count(ctx) }
		w.Baseline = func() any { return eachFile(dir, countLines) }
	case "csv":
		err = writeScanRows(ctx, s, dir, files, size, func(r *rdd.RDD[scanRow], out string) error { return r.SaveAsCSV(ctx, out) })
		w.Engine = func(ctx context.Context) (any, error) {
			return rdd.CSVFile[scanRow](s, filepath.Join(dir, "out")).Count(ctx)
		}
		w.Baseline = func() any { return eachFile(filepath.Join(dir, "out"), parseCSV) }
	case "parquet":
		err = writeScanRows(ctx, s, dir, files, size, func(r *rdd.RDD[scanRow], out string) error { return r.SaveAsParquet(ctx, out) })
		w.Target = 1.5
		w.Engine = func(ctx context.Context) (any, error) {
			return rdd.ParquetFile[scanRow](s, filepath.Join(dir, "out")).Count(ctx)
		}
		w.Baseline = func() any { return eachFile(filepath.Join(dir, "out"), readParquet) }
	default:
		err = fmt.Errorf("unknown scan format %q", format)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	w.Bytes = dirSize(dir)
	return w, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func writeTextFiles(dir string, files int, size int64) error {
	for f := range files {
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("text-%d.txt", f)))
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(out, 1<<20)
		for line := range wordcount.Lines(f, size/int64(files)) {
			bw.WriteString(line)
			bw.WriteByte('\n')
		}
		if err := errors.Join(bw.Flush(), out.Close()); err != nil {
			return err
		}
	}
	return nil
}

// writeScanRows saves about size bytes of rows (counted as CSV text) with
// save, in files parts.
func writeScanRows(ctx context.Context, s *rdd.Session, dir string, files int, size int64, save func(*rdd.RDD[scanRow], string) error) error {
	const rowBytes = 40 // about, as CSV
	rows := size / rowBytes
	idx := rdd.Range(s, 0, rows, files)
	r := rdd.Map(idx, func(i int64) scanRow {
		return scanRow{ID: i, Name: "name-" + strconv.FormatInt(i*7919%100003, 10), Score: float64(i%1000) / 7, Tag: []string{"red", "green", "blue"}[i%3]}
	})
	return save(r, filepath.Join(dir, "out"))
}

// eachFile runs count on every part file of dir, one goroutine per file,
// and adds up the results.
func eachFile(dir string, count func(path string) (int64, error)) int64 {
	paths, _ := filepath.Glob(filepath.Join(dir, "[tp]*"))
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := count(p)
			if err != nil {
				n = -1 << 40 // makes the answers disagree
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var n int64
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

func parseCSV(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		return 0, err
	}
	var n int64
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		var r scanRow
		if r.ID, err = strconv.ParseInt(rec[0], 10, 64); err != nil {
			return n, err
		}
		r.Name = rec[1]
		if r.Score, err = strconv.ParseFloat(rec[2], 64); err != nil {
			return n, err
		}
		r.Tag = rec[3]
		n++
	}
}

func readParquet(path string) (int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return 0, err
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	var n int64
	for rr.Next() {
		n += rr.Record().NumRows()
	}
	return n, nil
}
