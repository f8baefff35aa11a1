package saferead

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CheckArrowIPC checks the framing and metadata of an Arrow IPC file or
// stream of size bytes before Arrow's reader sees it, reading only the
// metadata: every message and buffer it declares lies inside the file,
// every vector of its metadata inside its message, and its schema nests
// no deeper than MaxDepth. Arrow's reader trusts all of these: a vector's
// length it takes from the file becomes the length of a slice it makes,
// so that 400 bytes can ask for 1 TiB. It says whether the data is in
// the file format (it begins with the magic); the caller must read it with
// that format's reader alone, as only what was checked is safe. An error
// wraps ErrDamaged.
func CheckArrowIPC(r io.ReaderAt, size int64) (isFile bool, err error) {
	var head [8]byte
	if size >= int64(len(head)) {
		if _, err := r.ReadAt(head[:], 0); err != nil {
			return false, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
	}
	isFile = bytes.HasPrefix(head[:], arrowMagic)
	if isFile {
		err = checkArrowFile(r, size)
	} else {
		err = checkArrowStream(r, size)
	}
	if err != nil && !errors.Is(err, ErrDamaged) {
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return isFile, err
}

var arrowMagic = []byte("ARROW1")

// Message header types and their tables' slots, from Arrow's Message.fbs
// and Schema.fbs.
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3

	typeTimestamp = 10
	typeUnion     = 14

	blockSize  = 24 // Block: offset int64, metaDataLength int32 (padded), bodyLength int64
	bufferSize = 16 // Buffer: offset, length int64
	nodeSize   = 16 // FieldNode: length, null_count int64
)

// checkArrowFile checks the footer of an Arrow IPC file and the message of
// each block it lists.
func checkArrowFile(r io.ReaderAt, size int64) error {
	tail := int64(len(arrowMagic) + 4)
	if size < 8+tail {
		return fmt.Errorf("truncated Arrow file: %d bytes", size)
	}
	end := make([]byte, tail)
	if _, err := r.ReadAt(end, size-tail); err != nil {
		return err
	}
	if !bytes.Equal(end[4:], arrowMagic) {
		return errors.New("an Arrow file without its footer: truncated")
	}
	footerLen := int64(binary.LittleEndian.Uint32(end[:4]))
	footerAt := size - tail - footerLen
	if footerLen <= 0 || footerAt < 8 {
		return fmt.Errorf("its footer declares %d bytes, more than the file holds", footerLen)
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, footerAt); err != nil {
		return err
	}
	root, err := rootTable(footer)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	schema, ok, err := root.table(1)
	if err != nil || !ok {
		return fmt.Errorf("footer: no schema (%v)", err)
	}
	if err := checkSchemaTable(schema); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	// Blocks do not overlap: all of them together fit in the data, so
	// that blocks naming one message again cannot make the check long.
	var total int64
	for _, slot := range []int{2, 3} { // dictionaries, recordBatches
		at, n, err := root.vector(slot, blockSize)
		if err != nil {
			return fmt.Errorf("footer: %w", err)
		}
		for i := range n {
			b := footer[at+i*blockSize:]
			offset := int64(binary.LittleEndian.Uint64(b))
			meta := int64(int32(binary.LittleEndian.Uint32(b[8:])))
			body := int64(binary.LittleEndian.Uint64(b[16:]))
			if offset < 8 || meta <= 0 || body < 0 || offset > footerAt || meta > footerAt-offset || body > footerAt-offset-meta {
				return fmt.Errorf("footer: block %d declares %d+%d bytes at %d, outside the file's %d bytes of data", i, meta, body, offset, footerAt)
			}
			if total += meta + body; total > footerAt {
				return fmt.Errorf("footer: its blocks declare more bytes than the file's %d of data", footerAt)
			}
			if err := checkFileMessage(r, offset, meta, body); err != nil {
				return fmt.Errorf("message at %d: %w", offset, err)
			}
		}
	}
	return nil
}

// checkFileMessage checks the message of a block of a file: meta bytes
// of metadata, with its length prefix, and body bytes of body.
func checkFileMessage(r io.ReaderAt, offset, meta, body int64) error {
	buf := make([]byte, meta)
	if _, err := r.ReadAt(buf, offset); err != nil {
		return err
	}
	switch {
	case len(buf) >= 8 && binary.LittleEndian.Uint32(buf) == 0xFFFFFFFF:
		buf = buf[8:]
	case len(buf) >= 4:
		buf = buf[4:]
	}
	return checkMessage(buf, body)
}

// checkArrowStream checks every message of an Arrow IPC stream: its
// metadata, and that its body lies inside the file.
func checkArrowStream(r io.ReaderAt, size int64) error {
	var word [4]byte
	for at := int64(0); at < size; {
		if _, err := r.ReadAt(word[:], at); err != nil {
			return fmt.Errorf("truncated Arrow stream at %d: %v", at, err)
		}
		at += 4
		n := int64(int32(binary.LittleEndian.Uint32(word[:])))
		if n == -1 { // the continuation marker, then the length
			if _, err := r.ReadAt(word[:], at); err != nil {
				return fmt.Errorf("truncated Arrow stream at %d: %v", at, err)
			}
			at += 4
			n = int64(int32(binary.LittleEndian.Uint32(word[:])))
		}
		if n == 0 { // end of stream
			return nil
		}
		if n < 0 || n > size-at {
			return fmt.Errorf("a message at %d declares %d bytes of metadata, past the end of the file (%d bytes)", at, n, size)
		}
		meta := make([]byte, n)
		if _, err := r.ReadAt(meta, at); err != nil {
			return err
		}
		at += n
		m, err := rootTable(meta)
		if err != nil {
			return fmt.Errorf("message at %d: %w", at-n, err)
		}
		body := m.int64(3)
		if body < 0 || body > size-at {
			return fmt.Errorf("a message at %d declares a body of %d bytes, past the end of the file (%d bytes)", at-n, body, size)
		}
		if err := checkMessage(meta, body); err != nil {
			return fmt.Errorf("message at %d: %w", at-n, err)
		}
		at += body
	}
	return nil
}

// CheckMessage checks the metadata of one Arrow IPC message whose body
// has body bytes, as CheckArrowIPC checks each message of a file: for
// messages that come over the network, such as Flight's. An error wraps
// ErrDamaged.
func CheckMessage(meta []byte, body int64) error {
	if err := checkMessage(meta, body); err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return nil
}

// checkMessage checks a Message's metadata, whose body has body bytes.
func checkMessage(meta []byte, body int64) error {
	m, err := rootTable(meta)
	if err != nil {
		return err
	}
	if declared := m.int64(3); declared < 0 || declared > body {
		return fmt.Errorf("declares a body of %d bytes, more than its %d", declared, body)
	}
	if err := m.keyValues(4); err != nil {
		return err
	}
	h, ok, err := m.table(2)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("a message without a header")
	}
	switch kind := m.uint8(1); kind {
	case headerSchema:
		return checkSchemaTable(h)
	case headerRecordBatch:
		return checkRecordBatch(h, body)
	case headerDictionaryBatch:
		rb, ok, err := h.table(1)
		if err != nil || !ok {
			return fmt.Errorf("a dictionary batch without data (%v)", err)
		}
		return checkRecordBatch(rb, body)
	default:
		return fmt.Errorf("a message of type %d, not a schema or a batch of records", kind)
	}
}

func checkSchemaTable(s fbTable) error {
	if err := s.keyValues(2); err != nil {
		return err
	}
	if _, _, err := s.vector(3, 8); err != nil {
		return err
	}
	return checkFields(s, 1, 1)
}

// checkFields checks the vector of Field tables at slot of t, at depth.
func checkFields(t fbTable, slot, depth int) error {
	at, n, err := t.vector(slot, 4)
	if err != nil {
		return err
	}
	if n > 0 && depth > MaxDepth {
		return fmt.Errorf("its schema nests types deeper than %d", MaxDepth)
	}
	for i := range n {
		f, err := t.at(at + 4*i)
		if err != nil {
			return err
		}
		if _, _, err := f.vector(0, 1); err != nil { // name
			return err
		}
		if err := checkFieldType(f); err != nil {
			return err
		}
		if d, ok, err := f.table(4); err != nil {
			return err
		} else if ok {
			if _, _, err := d.table(1); err != nil { // indexType
				return err
			}
		}
		if err := f.keyValues(6); err != nil {
			return err
		}
		if err := checkFields(f, 5, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkFieldType checks the type table of a Field: those with a vector or
// a string in them.
func checkFieldType(f fbTable) error {
	t, ok, err := f.table(3)
	if err != nil || !ok {
		return err
	}
	switch f.uint8(2) {
	case typeTimestamp:
		_, _, err = t.vector(1, 1) // timezone
	case typeUnion:
		_, _, err = t.vector(1, 4) // typeIds
	}
	return err
}

// checkRecordBatch checks that the buffers of a RecordBatch lie inside its
// body of body bytes, and that its lengths are not negative.
func checkRecordBatch(rb fbTable, body int64) error {
	if rows := rb.int64(0); rows < 0 {
		return fmt.Errorf("a batch of %d rows", rows)
	}
	at, n, err := rb.vector(1, nodeSize)
	if err != nil {
		return err
	}
	for i := range n {
		b := rb.buf[at+i*nodeSize:]
		length, nulls := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if length < 0 || nulls < 0 || nulls > length {
			return fmt.Errorf("column node %d declares %d values, %d null", i, length, nulls)
		}
	}
	at, n, err = rb.vector(2, bufferSize)
	if err != nil {
		return err
	}
	for i := range n {
		b := rb.buf[at+i*bufferSize:]
		offset, length := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
		if offset < 0 || length < 0 || offset > body || length > body-offset {
			return fmt.Errorf("buffer %d declares %d bytes at %d, outside its body of %d", i, length, offset, body)
		}
	}
	// variadicBufferCounts: the reader makes a slice of each count, and
	// the buffers they count are among the batch's.
	vat, vn, err := rb.vector(4, 8)
	if err != nil {
		return err
	}
	var variadic int64
	for i := range vn {
		c := int64(binary.LittleEndian.Uint64(rb.buf[vat+i*8:]))
		if c < 0 || c > int64(n) || variadic+c > int64(n) {
			return fmt.Errorf("variadic buffer count %d of a batch of %d buffers", c, n)
		}
		variadic += c
	}
	_, _, err = rb.table(3) // compression
	return err
}

// fbTable is a table of a FlatBuffer whose every read is checked against
// the buffer's bounds.
type fbTable struct {
	buf    []byte
	pos    int
	vtable int
	vsize  int
	// walk is what is left of the bytes a check may walk: a table costs
	// 4 and a vector its length, and a buffer whose tables and vectors
	// do not overlap (as writers make them) never exceeds its length. It
	// fails a buffer that points at one table or string many times,
	// whose check, and reading, would cost far more than its size.
	walk *int64
}

func rootTable(buf []byte) (fbTable, error) {
	if len(buf) < 4 {
		return fbTable{}, fmt.Errorf("metadata of %d bytes", len(buf))
	}
	walk := int64(len(buf))
	return fbTable{buf: buf, walk: &walk}.at(0)
}

// at returns the table that the offset at pos points to.
func (t fbTable) at(pos int) (fbTable, error) {
	if pos < 0 || pos > len(t.buf)-4 {
		return fbTable{}, fmt.Errorf("an offset at %d, outside its %d bytes of metadata", pos, len(t.buf))
	}
	target := int64(pos) + int64(binary.LittleEndian.Uint32(t.buf[pos:]))
	if target > int64(len(t.buf))-4 {
		return fbTable{}, fmt.Errorf("a table at %d, outside its %d bytes of metadata", target, len(t.buf))
	}
	vt := target - int64(int32(binary.LittleEndian.Uint32(t.buf[target:])))
	if vt < 0 || vt > int64(len(t.buf))-4 {
		return fbTable{}, fmt.Errorf("a vtable at %d, outside its %d bytes of metadata", vt, len(t.buf))
	}
	vsize := int64(binary.LittleEndian.Uint16(t.buf[vt:]))
	if vsize < 4 || vt+vsize > int64(len(t.buf)) {
		return fbTable{}, fmt.Errorf("a vtable of %d bytes at %d, outside its %d bytes of metadata", vsize, vt, len(t.buf))
	}
	if err := t.spend(4); err != nil {
		return fbTable{}, err
	}
	return fbTable{buf: t.buf, pos: int(target), vtable: int(vt), vsize: int(vsize), walk: t.walk}, nil
}

// spend takes n from the walk's budget.
func (t fbTable) spend(n int64) error {
	if *t.walk -= n; *t.walk < 0 {
		return fmt.Errorf("metadata of %d bytes that refers to the same tables or strings again and again", len(t.buf))
	}
	return nil
}

// field returns where the field at slot is, if present, checking that
// width bytes of it lie in the buffer.
func (t fbTable) field(slot, width int) (int, bool, error) {
	v := 4 + 2*slot
	if v+2 > t.vsize {
		return 0, false, nil
	}
	off := int(binary.LittleEndian.Uint16(t.buf[t.vtable+v:]))
	if off == 0 {
		return 0, false, nil
	}
	at := t.pos + off
	if at > len(t.buf)-width {
		return 0, false, fmt.Errorf("a field at %d, outside its %d bytes of metadata", at, len(t.buf))
	}
	return at, true, nil
}

func (t fbTable) int64(slot int) int64 {
	if at, ok, err := t.field(slot, 8); ok && err == nil {
		return int64(binary.LittleEndian.Uint64(t.buf[at:]))
	}
	return 0
}

func (t fbTable) uint8(slot int) uint8 {
	if at, ok, err := t.field(slot, 1); ok && err == nil {
		return t.buf[at]
	}
	return 0
}

// table returns the table at slot, if present.
func (t fbTable) table(slot int) (fbTable, bool, error) {
	at, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return fbTable{}, false, err
	}
	sub, err := t.at(at)
	return sub, err == nil, err
}

// vector returns where the elements of the vector at slot start and how
// many there are, checking that they lie in the buffer.
func (t fbTable) vector(slot, elemSize int) (start, n int, err error) {
	at, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return 0, 0, err
	}
	v := int64(at) + int64(binary.LittleEndian.Uint32(t.buf[at:]))
	if v > int64(len(t.buf))-4 {
		return 0, 0, fmt.Errorf("a vector at %d, outside its %d bytes of metadata", v, len(t.buf))
	}
	count := int64(binary.LittleEndian.Uint32(t.buf[v:]))
	if count*int64(elemSize) > int64(len(t.buf))-v-4 {
		return 0, 0, fmt.Errorf("a vector of %d elements at %d, more than its %d bytes of metadata hold", count, v, len(t.buf))
	}
	if err := t.spend(count * int64(elemSize)); err != nil {
		return 0, 0, err
	}
	return int(v) + 4, int(count), nil
}

// keyValues checks the vector of KeyValue tables at slot.
func (t fbTable) keyValues(slot int) error {
	at, n, err := t.vector(slot, 4)
	if err != nil {
		return err
	}
	for i := range n {
		kv, err := t.at(at + 4*i)
		if err != nil {
			return err
		}
		for s := range 2 {
			if _, _, err := kv.vector(s, 1); err != nil {
				return err
			}
		}
	}
	return nil
}
