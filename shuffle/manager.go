package shuffle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

var (
	// ErrMissingBlock is wrapped by errors reading a map output that does not
	// exist, for example because the executor that wrote it was lost. The
	// scheduler treats it as a fetch failure and recomputes the map stage.
	ErrMissingBlock = errors.New("shuffle: block not found")

	// ErrCorruptBlock is wrapped by errors reading a map output whose bytes
	// do not match the checksums recorded when it was written.
	ErrCorruptBlock = errors.New("shuffle: corrupt block")

	// ErrClosed is returned by operations on a closed Manager.
	ErrClosed = errors.New("shuffle: manager closed")
)

// Compression selects the codec applied to the buffers of every record
// batch written to shuffle files.
type Compression int

const (
	LZ4           Compression = iota // LZ4 frame: fast, the default
	ZSTD                             // Zstandard: smaller files for more CPU
	NoCompression                    // stored as is
)

// String returns the name of the codec.
func (c Compression) String() string {
	switch c {
	case LZ4:
		return "lz4"
	case ZSTD:
		return "zstd"
	case NoCompression:
		return "none"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// Config configures a Manager.
type Config struct {
	// Dir holds the shuffle files. If empty, the manager creates a
	// temporary directory and removes it on Close.
	Dir string
	// Compression is the codec for written files. Readers detect the codec
	// from the files themselves.
	Compression Compression
	// Allocator allocates the buffers of records read back and the
	// scratch space of writers. If nil, memory.DefaultAllocator is used.
	Allocator memory.Allocator
	// Shared says that Dir belongs to another manager too (an executor's
	// worker writes where the executor serves from): Close leaves the
	// files to their owner.
	Shared bool
}

// Manager stores map outputs in files under one directory and serves them
// back. It is safe for concurrent use.
type Manager struct {
	dir     string
	ownsDir bool
	shared  bool
	opts    []ipc.Option // writer options: codec and allocator
	mem     memory.Allocator

	closed atomic.Bool
	// mu serialises commits against each other and against removal, so
	// that exactly one attempt of a map task installs its files.
	mu sync.Mutex
}

// NewManager returns a Manager storing files as cfg describes.
func NewManager(cfg Config) (*Manager, error) {
	m := &Manager{mem: cfg.Allocator, shared: cfg.Shared}
	if m.mem == nil {
		m.mem = memory.DefaultAllocator
	}
	m.opts = []ipc.Option{ipc.WithAllocator(m.mem)}
	switch cfg.Compression {
	case LZ4:
		m.opts = append(m.opts, ipc.WithLZ4())
	case ZSTD:
		m.opts = append(m.opts, ipc.WithZstd())
	case NoCompression:
	default:
		return nil, fmt.Errorf("shuffle: unknown compression %v", cfg.Compression)
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "ember-shuffle-*")
		if err != nil {
			return nil, fmt.Errorf("shuffle: create directory: %w", err)
		}
		m.dir, m.ownsDir = dir, true
		return m, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("shuffle: create directory: %w", err)
	}
	m.dir = cfg.Dir
	return m, nil
}

// Dir returns the directory holding the manager's files.
func (m *Manager) Dir() string { return m.dir }

// RemoveShuffle deletes every file of the shuffle. Map tasks of the shuffle
// still writing will fail to commit.
func (m *Manager) RemoveShuffle(shuffleID int) error {
	if err := checkIDs(shuffleID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil // Close removed it already
	}
	if err := os.RemoveAll(m.shuffleDir(shuffleID)); err != nil {
		return fmt.Errorf("shuffle: remove shuffle %d: %w", shuffleID, err)
	}
	return nil
}

// Close deletes every file the manager wrote, and its directory if the
// manager created it. Writers still open fail to commit. Close is
// idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Swap(true) || m.shared {
		return nil
	}
	if m.ownsDir {
		if err := os.RemoveAll(m.dir); err != nil {
			return fmt.Errorf("shuffle: close: %w", err)
		}
		return nil
	}
	// The directory was given to us and may hold other files: remove only
	// what carries our naming scheme.
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("shuffle: close: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if _, ok := parseShuffleDir(e.Name()); ok {
			errs = append(errs, os.RemoveAll(filepath.Join(m.dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shuffle: close: %w", err)
	}
	return nil
}

// install moves a committed map output from its temporary files into place,
// unless a valid output of the same map task is installed already, in which
// case the temporary files are left for the caller to remove and the
// installed output's status is returned. The index is renamed last, so its
// presence marks a complete output.
func (m *Manager) install(shuffleID, mapID int, dataTmp, indexTmp string, x *index) (MapStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return MapStatus{}, ErrClosed
	}
	dataPath, indexPath := m.mapPaths(shuffleID, mapID)
	if old, err := readIndex(indexPath, dataPath); err == nil && old.verify(dataPath) == nil {
		return old.status(shuffleID, mapID), nil
	}
	// Anything else found there is the debris of an interrupted commit or a
	// damaged output; this attempt replaces it.
	if err := os.Rename(dataTmp, dataPath); err != nil {
		return MapStatus{}, err
	}
	if err := os.Rename(indexTmp, indexPath); err != nil {
		return MapStatus{}, err
	}
	return x.status(shuffleID, mapID), nil
}

// shuffleDir returns the directory of a shuffle's files.
func (m *Manager) shuffleDir(shuffleID int) string {
	return filepath.Join(m.dir, "shuffle_"+strconv.Itoa(shuffleID))
}

// mapPaths returns the final data and index paths of a map output.
func (m *Manager) mapPaths(shuffleID, mapID int) (data, index string) {
	base := filepath.Join(m.shuffleDir(shuffleID), "map_"+strconv.Itoa(mapID))
	return base + ".data", base + ".index"
}

// checkIDs reports an error if any id is negative. Together with building
// names from integers only, this confines every path to the manager's dir.
func checkIDs(ids ...int) error {
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("shuffle: invalid negative id %d", id)
		}
	}
	return nil
}

// parseShuffleDir reports whether name is a shuffle directory name and
// which shuffle it belongs to.
func parseShuffleDir(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "shuffle_")
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	if err != nil || id < 0 || strconv.Itoa(id) != s {
		return 0, false
	}
	return id, true
}

// missing converts a file-not-found error into one wrapping ErrMissingBlock.
func missing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrMissingBlock, err)
	}
	return fmt.Errorf("shuffle: %w", err)
}
