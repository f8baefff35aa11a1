package rdd

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ember-go/ember/task"
)

// CSVOption changes how CSVFile reads.
type CSVOption func(*csvConfig)

type csvConfig struct {
	skipMalformed bool
	comma         rune
}

// SkipMalformed makes CSVFile skip rows it cannot read (too few fields, a
// value that does not parse) instead of failing the job.
func SkipMalformed() CSVOption { return func(c *csvConfig) { c.skipMalformed = true } }

// Delimiter sets the field delimiter; the default is a comma.
func Delimiter(r rune) CSVOption { return func(c *csvConfig) { c.comma = r } }

// CSVFile reads CSV files with a header row into structs of type T: a
// file, a directory of files or a glob, one partition per file (a quoted
// field may hold a newline, so a file cannot be cut at any line). Each
// field of T takes the column named by its `ember:"name"` tag, or else by
// its name; a field tagged `ember:"-"` is left alone. Fields may be strings,
// bools, integers, floats, time.Time (RFC 3339) and pointers to these (an
// empty value is nil). A missing column is an error when the RDD is built;
// a row that cannot be read fails the job with its file, line and column,
// unless SkipMalformed is given.
func CSVFile[T any](s *Session, path string, opts ...CSVOption) *RDD[T] {
	cfg := csvConfig{comma: ','}
	for _, o := range opts {
		o(&cfg)
	}
	files, err := listFiles(path)
	var parsers []*csvParser[T]
	if err == nil {
		parsers, err = csvParsers[T](files, cfg)
	}
	for _, p := range parsers {
		p.maxLine = maxLine(s)
	}
	r := newRDD[T](s, "CSVFile", len(files), nil, nil, err)
	r.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			var readErr error
			rows := func(yield func(T) bool) { readErr = parsers[p].rows(yield) }
			if err := r.batches(tc, rows, yield); err != nil {
				return err
			}
			return readErr
		}
	}
	r.inputBytes = func(p int) int64 { return fileSize(files[p]) }
	return r
}

// csvParser reads one file into values of T.
type csvParser[T any] struct {
	path    string
	cfg     csvConfig
	maxLine int64 // bytes a line may have
	columns []int // for each settable field of T, its column in the file
	fields  []csvField
}

// csvField is a field of T and how to set it from text.
type csvField struct {
	name  string
	index []int
	set   func(v reflect.Value, text string) error
}

func csvParsers[T any](files []string, cfg csvConfig) ([]*csvParser[T], error) {
	fields, err := csvFields(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	parsers := make([]*csvParser[T], len(files))
	for i, path := range files {
		header, err := readHeader(path, cfg)
		if err != nil {
			return nil, err
		}
		p := &csvParser[T]{path: path, cfg: cfg, fields: fields}
		var missing []string
		for _, f := range fields {
			col := -1
			for j, h := range header {
				if strings.TrimSpace(h) == f.name {
					col = j
					break
				}
			}
			if col < 0 {
				missing = append(missing, f.name)
			}
			p.columns = append(p.columns, col)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: no column %s in the header (%s)", path, strings.Join(missing, ", "), strings.Join(header, ", "))
		}
		parsers[i] = p
	}
	return parsers, nil
}

func readHeader(path string, cfg csvConfig) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = cfg.comma
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	return header, nil
}

// rows yields the rows of the file after the header.
func (p *csvParser[T]) rows(yield func(T) bool) error {
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer f.Close()
	lines := &boundedLines{r: f, max: p.maxLine}
	cr := csv.NewReader(lines)
	cr.Comma = p.cfg.comma
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		return fmt.Errorf("%s: reading the header: %w", p.path, err)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && p.cfg.skipMalformed:
			continue
		case errors.As(err, &pe):
			return task.Permanent(fmt.Errorf("%s: %w", p.path, err))
		case err != nil:
			return fmt.Errorf("%s: %w", p.path, err)
		}
		line, _ := cr.FieldPos(0)
		var row T
		if err := p.parse(rec, reflect.ValueOf(&row).Elem(), line); err != nil {
			if p.cfg.skipMalformed {
				continue
			}
			return task.Permanent(err)
		}
		if !yield(row) {
			return nil
		}
	}
}

func (p *csvParser[T]) parse(rec []string, v reflect.Value, line int) error {
	for i, f := range p.fields {
		col := p.columns[i]
		if col >= len(rec) {
			return fmt.Errorf("%s:%d: the row has %d fields, no column %d (%s)", p.path, line, len(rec), col+1, f.name)
		}
		if err := f.set(v.FieldByIndex(f.index), rec[col]); err != nil {
			return fmt.Errorf("%s:%d: column %d (%s): %w", p.path, line, col+1, f.name, err)
		}
	}
	return nil
}

// csvFields lists the fields of struct type t that CSV fills.
func csvFields(t reflect.Type) ([]csvField, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("CSV rows are read into structs, not %v", t)
	}
	var fields []csvField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("ember")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag != "" {
			name = tag
		}
		set, err := csvSetter(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("field %s of %v: %w", sf.Name, t, err)
		}
		fields = append(fields, csvField{name: name, index: sf.Index, set: set})
	}
	return fields, nil
}

var timeType = reflect.TypeFor[time.Time]()

// csvSetter returns the function that parses text into a value of type t.
func csvSetter(t reflect.Type) (func(reflect.Value, string) error, error) {
	if t == timeType {
		return func(v reflect.Value, s string) error {
			tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
			if err == nil {
				v.Set(reflect.ValueOf(tm))
			}
			return err
		}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value, s string) error { v.SetString(s); return nil }, nil
	case reflect.Bool:
		return func(v reflect.Value, s string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			v.SetBool(b)
			return err
		}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
			v.SetInt(n)
			return err
		}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
			v.SetUint(n)
			return err
		}, nil
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value, s string) error {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
			v.SetFloat(x)
			return err
		}, nil
	case reflect.Pointer:
		elem, err := csvSetter(t.Elem())
		if err != nil {
			return nil, err
		}
		return func(v reflect.Value, s string) error {
			if s == "" {
				v.SetZero()
				return nil
			}
			p := reflect.New(t.Elem())
			if err := elem(p.Elem(), s); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}, nil
	}
	return nil, fmt.Errorf("%v cannot be read from CSV", t)
}

// SaveAsCSV writes each partition as a CSV file with a header row,
// part-NNNNN.csv, in dir, then _SUCCESS. T must be a struct; its fields are
// written as CSVFile reads them (times in RFC 3339, nil pointers empty).
func (r *RDD[T]) SaveAsCSV(ctx context.Context, dir string, opts ...SaveOption) error {
	fields, err := csvFields(reflect.TypeFor[T]())
	if err != nil {
		return actionError("SaveAsCSV", r, err)
	}
	header := make([]string, len(fields))
	for i, f := range fields {
		header[i] = f.name
	}
	return saveParts(ctx, r, "SaveAsCSV", dir, "csv", opts, func(f *os.File, in stream[T]) error {
		w := csv.NewWriter(f)
		w.Write(header)
		row := make([]string, len(fields))
		err := in(func(b []T) bool {
			for i := range b {
				v := reflect.ValueOf(&b[i]).Elem()
				for j, f := range fields {
					row[j] = csvText(v.FieldByIndex(f.index))
				}
				if w.Write(row) != nil {
					return false
				}
			}
			return true
		})
		w.Flush()
		return errors.Join(err, w.Error())
	})
}

// csvText formats a value as csvSetter parses it.
func csvText(v reflect.Value) string {
	if v.Type() == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits())
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return csvText(v.Elem())
	}
	return fmt.Sprint(v.Interface())
}
