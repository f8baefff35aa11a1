package shuffle

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/ember-go/ember/internal/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

var clusterSecret = []byte("the cluster secret")

// serveFlight serves m's blocks on a loopback port, refusing calls without
// the cluster secret, and returns the address.
func serveFlight(t *testing.T, m *Manager) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(auth.ServerOptions(auth.ServerConfig{Secret: clusterSecret})...)
	flight.RegisterFlightServiceServer(srv, NewFlightServer(m))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func remoteFetcher(t *testing.T, secret []byte) *RemoteFetcher {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if secret != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.Credentials(secret)))
	}
	f := NewRemoteFetcher(opts...)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFlightFetchMatchesLocalFetch(t *testing.T) {
	m := newTestManager(t, LZ4)
	addr := serveFlight(t, m)
	f := remoteFetcher(t, clusterSecret)
	rng := rand.New(rand.NewPCG(1, 2))
	mem := memory.NewGoAllocator()
	const maps, reduces = 3, 4
	for mapID := range maps {
		want, _ := writeMap(t, m, rng, mem, 0, mapID, reduces, []int{0, 2, 3}, 20) // partition 1 stays empty
		for r := range reduces {
			got, err := fetchRows(context.Background(), f, BlockRef{ShuffleID: 0, MapID: mapID, ReduceID: r, Location: addr})
			if err != nil {
				t.Fatalf("map %d reduce %d: %v", mapID, r, err)
			}
			if !slices.Equal(got, want[r]) {
				t.Fatalf("map %d reduce %d: %d rows over Flight, want %d", mapID, r, len(got), len(want[r]))
			}
		}
	}
}

func TestFlightErrors(t *testing.T) {
	m := newTestManager(t, LZ4)
	addr := serveFlight(t, m)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	writeMap(t, m, rng, memory.NewGoAllocator(), 0, 0, 2, []int{0, 1}, 5)
	f := remoteFetcher(t, clusterSecret)

	_, err := fetchRows(ctx, f, BlockRef{ShuffleID: 0, MapID: 7, ReduceID: 0, Location: addr})
	if !errors.Is(err, ErrMissingBlock) || status.Code(err) != codes.NotFound {
		t.Fatalf("missing block over Flight: %v, want ErrMissingBlock", err)
	}

	for name, secret := range map[string][]byte{"wrong secret": []byte("guess"), "no secret": nil} {
		_, err := fetchRows(ctx, remoteFetcher(t, secret), BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0, Location: addr})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "cluster secret") && name == "no secret" {
			t.Fatalf("%s: %v, want Unauthenticated", name, err)
		}
	}

	// An executor that is gone: its blocks are as good as missing.
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := lis.Addr().String()
	lis.Close()
	if _, err := fetchRows(ctx, f, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0, Location: dead}); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("fetch from a dead executor: %v, want ErrMissingBlock", err)
	}

	// A damaged block is reported as such.
	data, _ := m.mapPaths(0, 0)
	b, _ := os.ReadFile(data)
	b[len(b)/2] ^= 0xff
	os.WriteFile(data, b, 0o644)
	var corrupt bool
	for r := range 2 {
		if _, err := fetchRows(ctx, f, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: r, Location: addr}); errors.Is(err, ErrCorruptBlock) {
			corrupt = true
		}
	}
	if !corrupt {
		t.Fatal("a flipped byte went unnoticed over Flight")
	}
}

func TestTickets(t *testing.T) {
	ref := BlockRef{ShuffleID: 3, MapID: 14, ReduceID: 159}
	got, err := ParseTicket(Ticket(ref))
	if err != nil || got != ref {
		t.Fatalf("ParseTicket(Ticket(%v)) = %v, %v", ref, got, err)
	}
	for _, bad := range []string{"", "shuffle/1/2", "shuffle/1/2/3/4", "shuffle/-1/0/0", "shuffle/../0/0", "shuffle/01/0/0", "blocks/1/2/3", "shuffle/1/2/9999999999999999999999"} {
		if _, err := ParseTicket([]byte(bad)); err == nil {
			t.Errorf("ParseTicket(%q) accepted", bad)
		}
	}
}
