// Package config reads a configuration in layers (defaults < file <
// EMBER_* environment < flags) with spf13/viper, and writes its table of
// keys for the documentation. It knows no keys itself: package rdd
// registers the table of its Config, which the CLI and rdd share.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/viper"

	"github.com/ember-go/ember/internal/bytesize"
)

// A Key is one configuration key of a configuration of type C: its name,
// what it means, and how it reads and writes its field.
type Key[C any] struct {
	Name string
	Doc  string
	set  func(c *C, value string) error
	get  func(c C) string
}

// Get returns the key's value in c, written as Set reads it.
func (k Key[C]) Get(c C) string { return k.get(c) }

// A Table is every key of a configuration type, its defaults and its
// check.
type Table[C any] struct {
	Keys     []Key[C]
	Defaults func() C
	// Check checks a whole configuration; an error about one key is a
	// *KeyError, so that Load can say where the value came from.
	Check func(C) error
}

// Set sets the key named key (in any case) in c from its text.
func (t *Table[C]) Set(c *C, key, value string) error {
	k, ok := t.key(key)
	if !ok {
		return fmt.Errorf("unknown configuration key %q", key)
	}
	if err := k.set(c, value); err != nil {
		return fmt.Errorf("configuration key %q = %q: %w", k.Name, value, err)
	}
	return nil
}

// key finds a key, ignoring case (configuration files are often written
// in lower case).
func (t *Table[C]) key(name string) (Key[C], bool) {
	if i := slices.IndexFunc(t.Keys, func(k Key[C]) bool { return k.Name == name }); i >= 0 {
		return t.Keys[i], true
	}
	if i := slices.IndexFunc(t.Keys, func(k Key[C]) bool { return strings.EqualFold(k.Name, name) }); i >= 0 {
		return t.Keys[i], true
	}
	return Key[C]{}, false
}

// LoadOptions says where Load looks.
type LoadOptions struct {
	// File is a configuration file to read (YAML, TOML or JSON, by its
	// extension). Empty means the first ember.yaml (or .yml, .toml, .json)
	// found in the working directory, $HOME/.ember or /etc/ember, if any.
	File string
	// Flags are key=value settings from the command line, applied last,
	// in order; FlagSource names where they came from ("--conf").
	Flags      [][2]string
	FlagSource []string
	// Env reads the environment; nil means os.Getenv.
	Env func(string) string
	// Warn receives warnings (unknown keys in the file); nil drops them.
	Warn func(string)
}

// Setting is the value of a key and where it came from: "default", "file
// PATH", "env EMBER_…" or a flag.
type Setting struct {
	Key, Value, Source string
}

// EnvKey is the environment variable of a key: EMBER_ and the key in
// upper case with dots as underscores (task.maxFailures:
// EMBER_TASK_MAXFAILURES).
func EnvKey(key string) string {
	return "EMBER_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds a configuration from its layers, each over the one before:
// the defaults, a configuration file, EMBER_* environment variables,
// flags. A value that does not parse, or a configuration that does not
// hold together, is an error naming the key, the value and where it came
// from; an unknown key in the file is a warning.
func (t *Table[C]) Load(opts LoadOptions) (C, []Setting, error) {
	l := loader[C]{t: t, cfg: t.Defaults(), source: map[string]string{}}
	if err := l.file(opts); err != nil {
		return l.cfg, nil, err
	}
	getenv := opts.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := l.env(getenv); err != nil {
		return l.cfg, nil, err
	}
	for i, kv := range opts.Flags {
		from := "flag"
		if i < len(opts.FlagSource) {
			from = opts.FlagSource[i]
		}
		if err := l.set(kv[0], kv[1], from); err != nil {
			return l.cfg, nil, err
		}
	}
	// The whole, checked: the error names its key, so say where it came
	// from.
	if err := t.Check(l.cfg); err != nil {
		var bad *KeyError
		if errors.As(err, &bad) {
			from := l.sourceOf(bad.Key)
			err = &SourceError{Source: from, Err: fmt.Errorf("%w (%s from %s)", err, bad.Key, from)}
		}
		return l.cfg, nil, err
	}
	settings := make([]Setting, len(t.Keys))
	for i, k := range t.Keys {
		settings[i] = Setting{Key: k.Name, Value: k.get(l.cfg), Source: l.sourceOf(k.Name)}
	}
	return l.cfg, settings, nil
}

// loader is one run of Load: the configuration so far, and where each key
// set came from.
type loader[C any] struct {
	t      *Table[C]
	cfg    C
	source map[string]string
}

func (l *loader[C]) set(name, value, from string) error {
	k, ok := l.t.key(name)
	if !ok {
		return &SourceError{Source: from, Err: fmt.Errorf("unknown configuration key %q (from %s)", name, from)}
	}
	if err := k.set(&l.cfg, value); err != nil {
		return &SourceError{Source: from, Err: fmt.Errorf("configuration key %s = %q (from %s): %w", k.Name, value, from, err)}
	}
	l.source[k.Name] = from
	return nil
}

func (l *loader[C]) sourceOf(key string) string { return cmp.Or(l.source[key], "default") }

// file applies the configuration file, if there is one.
func (l *loader[C]) file(opts LoadOptions) error {
	v := viper.New()
	if opts.File != "" {
		v.SetConfigFile(opts.File)
	} else {
		v.SetConfigName("ember")
		v.AddConfigPath(".")
		if home, err := os.UserHomeDir(); err == nil {
			v.AddConfigPath(home + "/.ember")
		}
		v.AddConfigPath("/etc/ember")
	}
	err := v.ReadInConfig()
	var notFound viper.ConfigFileNotFoundError
	switch {
	case errors.As(err, &notFound):
		return nil
	case err != nil && opts.File != "" && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("configuration file %s: %w", opts.File, err)
	case err != nil:
		return fmt.Errorf("configuration file %s: %w", cmp.Or(v.ConfigFileUsed(), opts.File), err)
	}
	file := v.ConfigFileUsed()
	names := v.AllKeys()
	slices.Sort(names)
	for _, name := range names {
		if _, ok := l.t.key(name); !ok {
			if opts.Warn != nil {
				opts.Warn(fmt.Sprintf("configuration file %s: unknown key %q, ignored", file, name))
			}
			continue
		}
		if err := l.set(name, fmt.Sprint(v.Get(name)), "file "+file); err != nil {
			return err
		}
	}
	return nil
}

// env applies the EMBER_* variables; an empty one counts as unset.
func (l *loader[C]) env(getenv func(string) string) error {
	for _, k := range l.t.Keys {
		if value := getenv(EnvKey(k.Name)); value != "" {
			if err := l.set(k.Name, value, "env "+EnvKey(k.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Markdown is the table of keys in docs/configuration.md: key,
// environment variable, default and meaning.
func (t *Table[C]) Markdown() string {
	var b strings.Builder
	def := t.Defaults()
	b.WriteString("| key | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, k := range t.Keys {
		d := k.get(def)
		if d == "" {
			d = "none"
		} else {
			d = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, EnvKey(k.Name), d, k.Doc)
	}
	return b.String()
}

// SourceError is a value of a layer that does not check out, with the
// layer it came from ("file PATH", "env EMBER_…", a flag), so that a
// command can tell a bad flag (a usage error) from a bad file.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// KeyError is a configuration value that does not check out, and its
// key, so that Load can say where the value came from.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Invalid is a KeyError for key, whose message is key then format.
func Invalid(key, format string, args ...any) error {
	return &KeyError{key, fmt.Errorf(key+" "+format, args...)}
}

// registered holds the one Table a program registers: Register and
// Registered.
var registered struct {
	sync.Mutex
	table any
}

// Register makes t the table Registered returns: package rdd registers
// its Config's at init, for the CLI.
func Register[C any](t *Table[C]) {
	registered.Lock()
	defer registered.Unlock()
	registered.table = t
}

// Registered returns the table registered for configurations of type C.
func Registered[C any]() *Table[C] {
	registered.Lock()
	defer registered.Unlock()
	t, _ := registered.table.(*Table[C])
	return t
}

// Text is a key of a string field.
func Text[C any](name, doc string, field func(*C) *string) Key[C] {
	return Key[C]{Name: name, Doc: doc,
		set: func(c *C, v string) error { *field(c) = v; return nil },
		get: func(c C) string { return *field(&c) }}
}

// Integer is a key of an int field.
func Integer[C any](name, doc string, field func(*C) *int) Key[C] {
	return Key[C]{Name: name, Doc: doc,
		set: func(c *C, v string) (err error) {
			*field(c), err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("want an integer")
			}
			return err
		},
		get: func(c C) string { return strconv.Itoa(*field(&c)) }}
}

// Size is a key of a byte count: a number, or with a k, m or g suffix.
func Size[C any](name, doc string, field func(*C) *int64) Key[C] {
	return Key[C]{Name: name, Doc: doc,
		set: func(c *C, v string) (err error) { *field(c), err = bytesize.Parse(v); return err },
		get: func(c C) string { return bytesize.Format(*field(&c)) }}
}

// SizeOrOff is a Size key that also takes "off", stored as -1.
func SizeOrOff[C any](name, doc string, field func(*C) *int64) Key[C] {
	k := Size(name, doc, field)
	set, get := k.set, k.get
	k.set = func(c *C, v string) error {
		if strings.EqualFold(v, "off") {
			*field(c) = -1
			return nil
		}
		return set(c, v)
	}
	k.get = func(c C) string {
		if *field(&c) < 0 {
			return "off"
		}
		return get(c)
	}
	return k
}

// Duration is a key of a time.Duration field.
func Duration[C any](name, doc string, field func(*C) *time.Duration) Key[C] {
	return Key[C]{Name: name, Doc: doc,
		set: func(c *C, v string) (err error) {
			*field(c), err = time.ParseDuration(v)
			if err != nil {
				err = fmt.Errorf("want a duration such as 500ms or 30s")
			}
			return err
		},
		get: func(c C) string { return field(&c).String() }}
}

// Boolean is a key of a bool field.
func Boolean[C any](name, doc string, field func(*C) *bool) Key[C] {
	return Key[C]{Name: name, Doc: doc,
		set: func(c *C, v string) (err error) {
			*field(c), err = strconv.ParseBool(v)
			if err != nil {
				err = fmt.Errorf("want true or false")
			}
			return err
		},
		get: func(c C) string { return strconv.FormatBool(*field(&c)) }}
}
