package rdd

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// LoadOptions says where LoadConfig looks.
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

// LoadConfig builds a configuration from its layers, each over the one
// before: the defaults, a configuration file, EMBER_* environment
// variables, flags. A value that does not parse, or a configuration that
// does not hold together, is an error naming the key, the value and where
// it came from; an unknown key in the file is a warning.
func LoadConfig(opts LoadOptions) (Config, []Setting, error) {
	env := opts.Env
	if env == nil {
		env = os.Getenv
	}
	cfg := DefaultConfig()
	source := map[string]string{}
	set := func(name, value, from string) error {
		k, ok := keyByName(name)
		if !ok {
			return fmt.Errorf("unknown configuration key %q (from %s)", name, from)
		}
		if err := k.set(&cfg, value); err != nil {
			return fmt.Errorf("configuration key %s = %q (from %s): %w", k.Name, value, from, err)
		}
		source[k.Name] = from
		return nil
	}

	// The file.
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
	case err != nil && opts.File != "" && errors.Is(err, os.ErrNotExist):
		return cfg, nil, fmt.Errorf("configuration file %s: %w", opts.File, err)
	case err != nil:
		return cfg, nil, fmt.Errorf("configuration file %s: %w", cmp.Or(v.ConfigFileUsed(), opts.File), err)
	default:
		file := v.ConfigFileUsed()
		names := v.AllKeys()
		slices.Sort(names)
		for _, name := range names {
			if _, ok := keyByName(name); !ok {
				if opts.Warn != nil {
					opts.Warn(fmt.Sprintf("configuration file %s: unknown key %q, ignored", file, name))
				}
				continue
			}
			if err := set(name, fmt.Sprint(v.Get(name)), "file "+file); err != nil {
				return cfg, nil, err
			}
		}
	}

	// The environment.
	for _, k := range keys {
		if value := env(EnvKey(k.Name)); value != "" { // empty counts as unset
			if err := set(k.Name, value, "env "+EnvKey(k.Name)); err != nil {
				return cfg, nil, err
			}
		}
	}

	// The flags.
	for i, kv := range opts.Flags {
		from := "flag"
		if i < len(opts.FlagSource) {
			from = opts.FlagSource[i]
		}
		if err := set(kv[0], kv[1], from); err != nil {
			return cfg, nil, err
		}
	}

	// The whole, checked: the error names its key, so say where it came
	// from.
	if _, err := cfg.withDefaults(); err != nil {
		var bad *keyError
		if errors.As(err, &bad) {
			err = fmt.Errorf("%w (%s from %s)", err, bad.key, sourceOf(source, bad.key))
		}
		return cfg, nil, err
	}
	settings := make([]Setting, len(keys))
	for i, k := range keys {
		settings[i] = Setting{Key: k.Name, Value: k.get(cfg), Source: sourceOf(source, k.Name)}
	}
	return cfg, settings, nil
}

func sourceOf(source map[string]string, key string) string {
	if s, ok := source[key]; ok {
		return s
	}
	return "default"
}
