package codec

import (
	"math"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/zeebo/xxh3"
)

// hashers caches derived hash functions, keyed by reflect.Type.
var hashers sync.Map

// Hasher returns a deterministic 64-bit hash function of K, for
// partitioning: a value hashes the same in every process and every run,
// because the hash has no random seed. Equal values have equal hashes.
//
// K may be made of the types For supports that are comparable: booleans,
// integers, floats (hashed by value: -0 and 0 hash alike, as do all NaNs),
// strings, time.Time (hashed by instant, as UnixNano) and structs and arrays
// of these. Pointers are rejected: they compare by address, which differs
// from one process to the next. An unsupported K gives an error wrapping
// [ErrUnsupported] that names the type and field path, as For does. The
// function is derived once per type and is safe for concurrent use.
func Hasher[K comparable]() (func(K) uint64, error) {
	t := reflect.TypeFor[K]()
	v, ok := hashers.Load(t)
	if !ok {
		var hash func(K) uint64
		d := &deriver{root: t, active: make(map[reflect.Type]bool)}
		h, err := d.hash(t)
		if err == nil {
			hash = hasherOf[K](t, h)
		}
		v, _ = hashers.LoadOrStore(t, &cached{hash, err})
	}
	e := v.(*cached)
	if e.err != nil {
		return nil, e.err
	}
	return e.value.(func(K) uint64), nil
}

// hashFunc hashes the value at p.
type hashFunc func(p unsafe.Pointer) uint64

// hashSeed starts the hash of structs and arrays, so that an empty one does
// not hash as zero.
const hashSeed = 0x2545f4914f6cdd1d

// hash derives the hash function of t.
func (d *deriver) hash(t reflect.Type) (hashFunc, error) {
	if t == timeType {
		return func(p unsafe.Pointer) uint64 { return hashTime(*(*time.Time)(p)) }, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(p unsafe.Pointer) uint64 { return hashBool(*(*bool)(p)) }, nil
	case reflect.Int8:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*int8)(p))) }, nil
	case reflect.Int16:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*int16)(p))) }, nil
	case reflect.Int32:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*int32)(p))) }, nil
	case reflect.Int64:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*int64)(p))) }, nil
	case reflect.Int:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*int)(p))) }, nil
	case reflect.Uint8:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*uint8)(p))) }, nil
	case reflect.Uint16:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*uint16)(p))) }, nil
	case reflect.Uint32:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*uint32)(p))) }, nil
	case reflect.Uint64:
		return func(p unsafe.Pointer) uint64 { return HashWord(*(*uint64)(p)) }, nil
	case reflect.Uint:
		return func(p unsafe.Pointer) uint64 { return HashWord(uint64(*(*uint)(p))) }, nil
	case reflect.Float32:
		return func(p unsafe.Pointer) uint64 { return hashFloat(float64(*(*float32)(p))) }, nil
	case reflect.Float64:
		return func(p unsafe.Pointer) uint64 { return hashFloat(*(*float64)(p)) }, nil
	case reflect.String:
		return func(p unsafe.Pointer) uint64 { return xxh3.HashString(*(*string)(p)) }, nil
	case reflect.Array:
		return d.hashArray(t)
	case reflect.Struct:
		return d.hashStruct(t)
	case reflect.Pointer:
		return nil, d.fail(t, "pointers compare by address, which has no stable hash")
	}
	return nil, d.fail(t, "")
}

// hashArray derives the hash function of the array type t.
func (d *deriver) hashArray(t reflect.Type) (hashFunc, error) {
	n := t.Len()
	if t.Elem().Kind() == reflect.Uint8 {
		return func(p unsafe.Pointer) uint64 { return xxh3.Hash(unsafe.Slice((*byte)(p), n)) }, nil
	}
	elem, err := d.hash(t.Elem())
	if err != nil {
		return nil, err
	}
	size := t.Elem().Size()
	return func(p unsafe.Pointer) uint64 {
		h := uint64(hashSeed)
		for i := range n {
			h = combine(h, elem(unsafe.Add(p, uintptr(i)*size)))
		}
		return h
	}, nil
}

// hashStruct derives the hash function of the struct type t, combining its
// fields in order.
func (d *deriver) hashStruct(t reflect.Type) (hashFunc, error) {
	type hashField struct {
		offset uintptr
		hash   hashFunc
	}
	var fields []hashField
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Tag.Get("ember") == "-" {
			continue
		}
		d.path = append(d.path, sf.Name)
		var (
			h   hashFunc
			err error
		)
		if sf.IsExported() {
			h, err = d.hash(sf.Type)
		} else {
			err = d.fail(sf.Type, "unexported field; tag it `ember:\"-\"` to skip it")
		}
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return nil, err
		}
		fields = append(fields, hashField{offset: sf.Offset, hash: h})
	}
	return func(p unsafe.Pointer) uint64 {
		h := uint64(hashSeed)
		for _, f := range fields {
			h = combine(h, f.hash(unsafe.Add(p, f.offset)))
		}
		return h
	}, nil
}

// hasherOf wraps h, the hash function of K's type t, into a func(K).
// Passing &k to h would move every k to the heap, since the compiler cannot
// see through a function value; so bare numbers, strings and times, the usual
// keys, are hashed inline, and composite keys go through a pooled copy.
func hasherOf[K comparable](t reflect.Type, h hashFunc) func(K) uint64 {
	if t == timeType {
		return func(k K) uint64 { return hashTime(*(*time.Time)(unsafe.Pointer(&k))) }
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(k K) uint64 { return hashBool(*(*bool)(unsafe.Pointer(&k))) }
	case reflect.Int8:
		return func(k K) uint64 { return HashWord(uint64(*(*int8)(unsafe.Pointer(&k)))) }
	case reflect.Int16:
		return func(k K) uint64 { return HashWord(uint64(*(*int16)(unsafe.Pointer(&k)))) }
	case reflect.Int32:
		return func(k K) uint64 { return HashWord(uint64(*(*int32)(unsafe.Pointer(&k)))) }
	case reflect.Int64:
		return func(k K) uint64 { return HashWord(uint64(*(*int64)(unsafe.Pointer(&k)))) }
	case reflect.Int:
		return func(k K) uint64 { return HashWord(uint64(*(*int)(unsafe.Pointer(&k)))) }
	case reflect.Uint8:
		return func(k K) uint64 { return HashWord(uint64(*(*uint8)(unsafe.Pointer(&k)))) }
	case reflect.Uint16:
		return func(k K) uint64 { return HashWord(uint64(*(*uint16)(unsafe.Pointer(&k)))) }
	case reflect.Uint32:
		return func(k K) uint64 { return HashWord(uint64(*(*uint32)(unsafe.Pointer(&k)))) }
	case reflect.Uint64:
		return func(k K) uint64 { return HashWord(*(*uint64)(unsafe.Pointer(&k))) }
	case reflect.Uint:
		return func(k K) uint64 { return HashWord(uint64(*(*uint)(unsafe.Pointer(&k)))) }
	case reflect.Float32:
		return func(k K) uint64 { return hashFloat(float64(*(*float32)(unsafe.Pointer(&k)))) }
	case reflect.Float64:
		return func(k K) uint64 { return hashFloat(*(*float64)(unsafe.Pointer(&k))) }
	case reflect.String:
		return func(k K) uint64 { return xxh3.HashString(*(*string)(unsafe.Pointer(&k))) }
	}
	pool := sync.Pool{New: func() any { return new(K) }}
	return func(k K) uint64 {
		c := pool.Get().(*K)
		*c = k
		sum := h(unsafe.Pointer(c))
		// Drop the references the copy holds before pooling it.
		var zero K
		*c = zero
		pool.Put(c)
		return sum
	}
}

// HashWord hashes a fixed-width value with the splitmix64 finaliser, whose
// every output bit depends on every input bit. Signed values are
// sign-extended by the callers here, so that a number hashes alike at
// every width; package spill seeds it by xor-ing the value first.
func HashWord(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashFloat hashes the bits of f, after mapping -0 to 0 and every NaN to
// one NaN: values that are equal, or equally unordered, hash alike.
func hashFloat(f float64) uint64 {
	switch {
	case f == 0:
		f = 0
	case f != f:
		f = math.NaN()
	}
	return HashWord(math.Float64bits(f))
}

// hashBool hashes a bool.
func hashBool(b bool) uint64 {
	if b {
		return HashWord(1)
	}
	return HashWord(0)
}

// hashTime hashes the instant of t. Equal Times (==) have equal instants.
func hashTime(t time.Time) uint64 { return HashWord(uint64(t.UnixNano())) }

// combine mixes the hash x of the next part of a value into h. The
// multiplication makes the result depend on the order of the parts.
func combine(h, x uint64) uint64 {
	return HashWord(h*0x9e3779b97f4a7c15 ^ x)
}
