package rdd_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/ember-go/ember/rdd"
	"github.com/klauspost/compress/zstd"
)

// record mixes the element types a file must carry.
type record struct {
	ID     int64
	Name   string
	Score  float64
	OK     bool
	When   time.Time
	Tags   []string
	Attrs  map[string]int32
	Nested rdd.Pair[int16, []float32]
	Maybe  *uint32
	Raw    []byte
}

func records(n int) []record {
	out := make([]record, n)
	for i := range out {
		r := record{
			ID: int64(i), Name: fmt.Sprintf("name-%d", i), Score: float64(i) / 3, OK: i%2 == 0,
			When:   time.Date(2026, 11, 25, 0, 0, i, 0, time.UTC),
			Tags:   []string{},
			Attrs:  map[string]int32{},
			Nested: rdd.Pair[int16, []float32]{Key: int16(i), Value: []float32{}},
			Raw:    []byte(fmt.Sprint(i)),
		}
		for j := range i % 4 {
			r.Tags = append(r.Tags, fmt.Sprint("t", j))
			r.Attrs[fmt.Sprint("a", j)] = int32(j)
			r.Nested.Value = append(r.Nested.Value, float32(j))
		}
		if i%3 == 0 {
			v := uint32(i)
			r.Maybe = &v
		}
		out[i] = r
	}
	return out
}

// deepEqual compares element by element with reflect.DeepEqual, for
// elements with pointers, which fmt prints as addresses.
func deepEqual[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: element %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestFileRoundTrips(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := records(500)
	for _, parts := range []int{1, 3, 600} { // 600: most partitions are empty
		src := rdd.Parallelize(s, data, parts)
		arrowDir := filepath.Join(t.TempDir(), "arrow")
		if err := src.SaveAsArrow(ctx, arrowDir); err != nil {
			t.Fatal(err)
		}
		deepEqual(t, fmt.Sprintf("ArrowFile of %d parts", parts), collect(t, rdd.ArrowFile[record](s, arrowDir)), data)

		parquetDir := filepath.Join(t.TempDir(), "parquet")
		if err := src.SaveAsParquet(ctx, parquetDir); err != nil {
			t.Fatal(err)
		}
		deepEqual(t, fmt.Sprintf("ParquetFile of %d parts", parts), collect(t, rdd.ParquetFile[record](s, parquetDir)), data)
	}
}

func TestFilesReadOnlyTheColumnsNeeded(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := records(100)
	dir := t.TempDir()
	src := rdd.Parallelize(s, data, 2)
	if err := src.SaveAsArrow(ctx, filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveAsParquet(ctx, filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	type narrow struct {
		Name string
		ID   int64
	}
	want := mapSlice(data, func(r record) narrow { return narrow{r.Name, r.ID} })
	equal(t, "ArrowFile, two columns", collect(t, rdd.ArrowFile[narrow](s, filepath.Join(dir, "a"))), want)
	equal(t, "ParquetFile, two columns", collect(t, rdd.ParquetFile[narrow](s, filepath.Join(dir, "p"))), want)

	type wrong struct{ Missing string }
	for name, r := range map[string]*rdd.RDD[wrong]{
		"arrow":   rdd.ArrowFile[wrong](s, filepath.Join(dir, "a")),
		"parquet": rdd.ParquetFile[wrong](s, filepath.Join(dir, "p")),
	} {
		if _, err := r.Count(ctx); err == nil || !strings.Contains(err.Error(), "no column Missing") {
			t.Fatalf("%s with a missing column: %v", name, err)
		}
	}
}

// Ember's Parquet output read by pqarrow directly, and pqarrow's output,
// with several row groups and dictionary encoding, read by Ember.
func TestParquetInterop(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	dir := t.TempDir()
	data := records(300)
	if err := rdd.Parallelize(s, data, 2).SaveAsParquet(ctx, filepath.Join(dir, "ember")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range 2 {
		f, err := os.Open(filepath.Join(dir, "ember", fmt.Sprintf("part-%05d.parquet", p)))
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(ctx, f, parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := tbl.Column(tbl.Schema().FieldIndices("Name")[0])
		for _, chunk := range col.Data().Chunks() {
			for i := range chunk.Len() {
				names = append(names, chunk.(*array.String).Value(i))
			}
		}
		tbl.Release()
	}
	equal(t, "names read by pqarrow", names, mapSlice(data, func(r record) string { return r.Name }))

	// pqarrow writes 4 row groups of dictionary-encoded strings.
	schema := arrow.NewSchema([]arrow.Field{{Name: "City", Type: arrow.BinaryTypes.String}, {Name: "N", Type: arrow.PrimitiveTypes.Int64}}, nil)
	path := filepath.Join(dir, "foreign.parquet")
	f, _ := os.Create(path)
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithDictionaryDefault(true), parquet.WithMaxRowGroupLength(25)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	type city struct {
		City string
		N    int64
	}
	var want []city
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := range 100 {
		c := city{[]string{"Paris", "Lagos", "Lima"}[i%3], int64(i)}
		want = append(want, c)
		b.Field(0).(*array.StringBuilder).Append(c.City)
		b.Field(1).(*array.Int64Builder).Append(c.N)
	}
	rec := b.NewRecord()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := rdd.ParquetFile[city](s, path)
	if r.NumPartitions() != 4 {
		t.Fatalf("%d partitions, want one per row group (4)", r.NumPartitions())
	}
	equal(t, "pqarrow's file read by Ember", collect(t, r), want)
}

func TestArrowStreamInput(t *testing.T) {
	s := newSession(t)
	type row struct{ X int64 }
	path := filepath.Join(t.TempDir(), "stream.arrows")
	f, _ := os.Create(path)
	schema := arrow.NewSchema([]arrow.Field{{Name: "X", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w := ipc.NewWriter(f, ipc.WithSchema(schema))
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	var want []row
	for batch := range 3 {
		for i := range 10 {
			b.Field(0).(*array.Int64Builder).Append(int64(batch*10 + i))
			want = append(want, row{int64(batch*10 + i)})
		}
		rec := b.NewRecord()
		w.Write(rec)
		rec.Release()
	}
	w.Close()
	f.Close()
	equal(t, "ArrowFile of a stream", collect(t, rdd.ArrowFile[row](s, path)), want)
}

func TestBadFiles(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	dir := t.TempDir()
	type row struct{ X int64 }
	missing := filepath.Join(dir, "nothing-here")
	for name, r := range map[string]*rdd.RDD[row]{
		"arrow":   rdd.ArrowFile[row](s, missing),
		"parquet": rdd.ParquetFile[row](s, missing),
	} {
		if r.Err() == nil || !strings.Contains(r.Err().Error(), "nothing-here") {
			t.Fatalf("%s of a missing path: %v, want an error naming it at once", name, r.Err())
		}
	}
	// Truncated and damaged files: errors naming the file, no panics.
	good := filepath.Join(dir, "good")
	rows := make([]row, 1000)
	for i := range rows {
		rows[i] = row{int64(i)}
	}
	if err := rdd.Parallelize(s, rows, 1).SaveAsArrow(ctx, filepath.Join(good, "a")); err != nil {
		t.Fatal(err)
	}
	if err := rdd.Parallelize(s, rows, 1).SaveAsParquet(ctx, filepath.Join(good, "p")); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"arrow": "a/part-00000.arrow", "parquet": "p/part-00000.parquet"} {
		b, _ := os.ReadFile(filepath.Join(good, src))
		for _, cut := range []int{len(b) / 2, len(b) - 10} {
			bad := filepath.Join(dir, fmt.Sprintf("%s-%d.bin", name, cut))
			damaged := append([]byte(nil), b[:cut]...)
			os.WriteFile(bad, damaged, 0o644)
			var err error
			if name == "arrow" {
				_, err = rdd.ArrowFile[row](s, bad).Count(ctx)
			} else {
				r := rdd.ParquetFile[row](s, bad)
				if err = r.Err(); err == nil {
					_, err = r.Count(ctx)
				}
			}
			if err == nil || !strings.Contains(err.Error(), filepath.Base(bad)) {
				t.Errorf("%s cut at %d: %v, want an error naming the file", name, cut, err)
			}
		}
	}
}

func TestCompressedTextFiles(t *testing.T) {
	s := newSession(t)
	dir := t.TempDir()
	var want []string
	for i := range 3000 {
		want = append(want, fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%50)))
	}
	text := strings.Join(want, "\n") + "\n"

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "a.txt.gz"), gz.Bytes(), 0o644)
	enc, _ := zstd.NewWriter(nil)
	os.WriteFile(filepath.Join(dir, "b.txt.zst"), enc.EncodeAll([]byte(text), nil), 0o644)
	enc.Close()
	os.WriteFile(filepath.Join(dir, "c.txt"), []byte(text), 0o644)

	lines := rdd.TextFile(s, dir, 8)
	if n := lines.NumPartitions(); n < 3 {
		t.Fatalf("%d partitions, want at least one per file", n)
	}
	equal(t, "gzip, zstd and plain text", collect(t, lines), slices.Concat(want, want, want))

	bad := filepath.Join(t.TempDir(), "bad.gz")
	os.WriteFile(bad, gz.Bytes()[:gz.Len()/2], 0o644)
	if _, err := rdd.TextFile(s, bad, 1).Count(context.Background()); err == nil || !strings.Contains(err.Error(), "bad.gz") {
		t.Fatalf("a truncated gzip file: %v, want an error naming it", err)
	}
}

func TestSaveOverwrite(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out")
	first := rdd.Parallelize(s, []string{"old"}, 1)
	if err := first.SaveAsTextFile(ctx, dir); err != nil {
		t.Fatal(err)
	}
	second := rdd.Parallelize(s, []string{"new", "newer"}, 2)
	if err := second.SaveAsTextFile(ctx, dir); err == nil || !strings.Contains(err.Error(), "Overwrite") {
		t.Fatalf("saving over an existing output: %v, want an error pointing to Overwrite", err)
	}
	// A failing save with Overwrite leaves the old output whole.
	failing := rdd.Map(second, func(x string) string {
		if x == "newer" {
			panic("no")
		}
		return x
	})
	if err := failing.SaveAsTextFile(ctx, dir, rdd.Overwrite()); err == nil {
		t.Fatal("a failing save succeeded")
	}
	equal(t, "after a failed overwrite", collect(t, rdd.TextFile(s, dir, 1)), []string{"old"})
	if err := second.SaveAsTextFile(ctx, dir, rdd.Overwrite()); err != nil {
		t.Fatal(err)
	}
	equal(t, "after the overwrite", collect(t, rdd.TextFile(s, dir, 1)), []string{"new", "newer"})
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "part-00000")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("part file mode %v, %v; want rw-r--r-- so that other users and tools can read it", fi.Mode(), err)
	}
	leftovers, _ := filepath.Glob(dir + ".ember-*")
	if len(leftovers) != 0 {
		t.Fatalf("staging directories left behind: %v", leftovers)
	}
	// A failing save without Overwrite removes the directory it created.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if err := failing.SaveAsParquet(ctx, fresh); err == nil {
		t.Fatal("a failing save succeeded")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("a failed save left %s behind (%v)", fresh, err)
	}
}

type person struct {
	Name    string    `ember:"name"`
	Age     int32     `ember:"age"`
	Height  float64   `ember:"height_m"`
	Member  bool      `ember:"member"`
	Since   time.Time `ember:"since"`
	Manager *string   `ember:"manager"`
	Note    string    `ember:"-"`
}

func people(n int) []person {
	out := make([]person, n)
	for i := range out {
		out[i] = person{Name: fmt.Sprintf("p%d, \"the %dth\"", i, i), Age: int32(20 + i%50), Height: 1.5 + float64(i%40)/100,
			Member: i%2 == 0, Since: time.Date(2000+i%20, 1, 2, 3, 4, 5, 0, time.UTC)}
		if i%3 == 0 {
			m := fmt.Sprint("boss", i%7)
			out[i].Manager = &m
		}
	}
	return out
}

func TestCSVRoundTrip(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	data := people(200)
	dir := filepath.Join(t.TempDir(), "csv")
	if err := rdd.Parallelize(s, data, 5).SaveAsCSV(ctx, dir); err != nil {
		t.Fatal(err)
	}
	deepEqual(t, "CSV round trip", collect(t, rdd.CSVFile[person](s, dir)), data)
}

func TestCSVInputByHeaderName(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	dir := t.TempDir()
	// Columns in another order, an extra column, a quoted newline.
	path := filepath.Join(dir, "in.csv")
	os.WriteFile(path, []byte("extra;age;name;member;height_m;since;manager\n"+
		"x;31;\"Ada\nLovelace\";true;1.65;1815-12-10T00:00:00Z;\n"+
		"y;42;Grace;false;1.55;1906-12-09T00:00:00Z;Ada\n"), 0o644)
	ada := "Ada"
	want := []person{
		{Name: "Ada\nLovelace", Age: 31, Height: 1.65, Member: true, Since: time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)},
		{Name: "Grace", Age: 42, Height: 1.55, Since: time.Date(1906, 12, 9, 0, 0, 0, 0, time.UTC), Manager: &ada},
	}
	deepEqual(t, "CSV by header name", collect(t, rdd.CSVFile[person](s, path, rdd.Delimiter(';'))), want)

	// Malformed rows: fail with file, line and column, or skip.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("name,age,height_m,member,since,manager\n"+
		"ok,1,1.0,true,2020-01-01T00:00:00Z,\n"+
		"bad,notanumber,1.0,true,2020-01-01T00:00:00Z,\n"+
		"short,3\n"+
		"fine,4,1.0,false,2020-01-01T00:00:00Z,\n"), 0o644)
	_, err := rdd.CSVFile[person](s, bad).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "bad.csv:3: column 2 (age)") {
		t.Fatalf("a malformed row: %v, want an error naming bad.csv, line 3, column 2", err)
	}
	n, err := rdd.CSVFile[person](s, bad, rdd.SkipMalformed()).Count(ctx)
	if err != nil || n != 2 {
		t.Fatalf("with SkipMalformed: %d rows, %v; want the 2 good ones", n, err)
	}

	// A header without a needed column is an error at once.
	noAge := filepath.Join(dir, "noage.csv")
	os.WriteFile(noAge, []byte("name,height_m,member,since,manager\nx,1,true,2020-01-01T00:00:00Z,\n"), 0o644)
	if err := rdd.CSVFile[person](s, noAge).Err(); err == nil || !strings.Contains(err.Error(), "no column age") {
		t.Fatalf("a missing column: %v", err)
	}
	type unsupported struct{ C chan int }
	if err := rdd.CSVFile[unsupported](s, path).Err(); err == nil || !strings.Contains(err.Error(), "chan int") {
		t.Fatalf("an unsupported field: %v", err)
	}
}

// A line longer than input.maxLineLength fails its task with the file and
// where the line starts, in plain and compressed text and in CSV; shorter
// lines are read whole.
func TestLinesAreBounded(t *testing.T) {
	s := newSession(t, rdd.WithConf("input.maxLineLength", "1m"), rdd.WithConf("task.maxFailures", "1"))
	ctx := context.Background()
	dir := t.TempDir()
	long := strings.Repeat("x", 3<<20)
	under := strings.Repeat("y", 512<<10)
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		var data []byte
		if strings.HasSuffix(name, ".gz") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write([]byte(text))
			zw.Close()
			data = b.Bytes()
		} else {
			data = []byte(text)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, name := range []string{"long.txt", "long.txt.gz"} {
		path := write(name, "short\n"+under+"\n"+long+"\nafter\n")
		_, err := rdd.TextFile(s, path, 4).Collect(ctx)
		if err == nil || !strings.Contains(err.Error(), "longer than 1048576 bytes") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file and the bound", name, err)
		}
	}
	ok := write("fine.txt", "short\n"+under+"\nafter\n")
	got := collect(t, rdd.TextFile(s, ok, 4))
	deepEqual(t, "lines under the bound", got, []string{"short", under, "after"})

	type row struct {
		Name string `ember:"name"`
		Age  int32  `ember:"age"`
	}
	csvPath := write("long.csv", "name,age\nann,3\n"+long+",4\n")
	_, err := rdd.CSVFile[row](s, csvPath).Collect(ctx)
	if err == nil || !strings.Contains(err.Error(), "longer than 1048576 bytes") || !strings.Contains(err.Error(), "long.csv") {
		t.Errorf("CSV: %v, want an error naming the file and the bound", err)
	}
}
