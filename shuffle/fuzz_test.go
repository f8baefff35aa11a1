package shuffle

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// FuzzFetch damages a committed map output's data and index files with
// the fuzzer's bytes: fetching must return rows or an error, never panic.
func FuzzFetch(f *testing.F) {
	f.Add([]byte{}, []byte{}, 0)
	f.Add([]byte("garbage"), []byte{1, 2, 3, 4, 5, 6, 7, 8}, 3)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, []byte{}, 100)
	f.Fuzz(func(t *testing.T, data, idx []byte, at int) {
		m, err := NewManager(Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		mem := memory.NewGoAllocator()
		w, err := m.NewWriter(0, 0, 0, 2, testSchema)
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecord(mem, randomRows(rng, 50))
		w.Write(0, rec)
		w.Write(1, rec)
		rec.Release()
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		dataPath, indexPath := m.mapPaths(0, 0)
		damage := func(path string, b []byte) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(orig) > 0 {
				pos := ((at % len(orig)) + len(orig)) % len(orig)
				orig = append(orig[:pos], append(b, orig[min(pos+len(b), len(orig)):]...)...)
			}
			os.WriteFile(path, orig, 0o600)
		}
		damage(dataPath, data)
		damage(indexPath, idx)
		for red := range 2 {
			for rec, err := range m.Fetch(context.Background(), BlockRef{ShuffleID: 0, MapID: 0, ReduceID: red}) {
				if err != nil {
					break
				}
				rec.Release()
			}
		}
	})
}

// FuzzParseTicket: a ticket is three non-negative integers or an error,
// and never names anything else.
func FuzzParseTicket(f *testing.F) {
	for _, s := range []string{"shuffle/1/2/3", "shuffle/../../etc/passwd", "shuffle/-1/0/0", "shuffle/01/2/3", "block/rdd_1_2", "",
		"via/127.0.0.1:7947|shuffle/1/2/3", "via/[::1]:80|block/x", "via/host:0|x", "via/:80|x", "via/unix:/tmp/s|x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A relay's ticket names a host and a port, and gives back the
		// rest as it was.
		if loc, inner, err := ParseViaTicket([]byte(s)); err == nil {
			host, port, perr := net.SplitHostPort(loc)
			if perr != nil || host == "" || port == "0" || string(ViaTicket(loc, inner)) != s {
				t.Fatalf("relay ticket %q parsed as %q, %q", s, loc, inner)
			}
		}
		ref, err := ParseTicket([]byte(s))
		if err != nil {
			return
		}
		if ref.ShuffleID < 0 || ref.MapID < 0 || ref.ReduceID < 0 || string(Ticket(ref)) != s || strings.Contains(s, "..") {
			t.Fatalf("ticket %q parsed as %+v", s, ref)
		}
	})
}
