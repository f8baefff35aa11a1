package codec

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow/ipc"
)

// EncodeValues writes values as an Arrow IPC stream: how arguments, task
// results and partitioner samples travel between processes.
func EncodeValues[T any](values ...T) ([]byte, error) {
	c, err := For[T]()
	if err != nil {
		return nil, err
	}
	rec := c.Encode(nil, values)
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(c.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeValues reads what EncodeValues wrote.
func DecodeValues[T any](b []byte) ([]T, error) {
	c, err := For[T]()
	if err != nil {
		return nil, err
	}
	rdr, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode %T: %w", *new(T), err)
	}
	defer rdr.Release()
	var out []T
	for rdr.Next() {
		if out, err = c.Decode(rdr.Record(), out); err != nil {
			return nil, fmt.Errorf("decode %T: %w", *new(T), err)
		}
	}
	if err := rdr.Err(); err != nil {
		return nil, fmt.Errorf("decode %T: %w", *new(T), err)
	}
	return out, nil
}

// DecodeValue reads the one value that EncodeValues(v) wrote.
func DecodeValue[T any](b []byte) (T, error) {
	vs, err := DecodeValues[T](b)
	if err != nil {
		return *new(T), err
	}
	if len(vs) != 1 {
		return *new(T), fmt.Errorf("decode %T: %d values, want 1", *new(T), len(vs))
	}
	return vs[0], nil
}
