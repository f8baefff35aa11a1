package pagerank_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"testing"

	"github.com/ember-go/ember/examples/pagerank"
	"github.com/ember-go/ember/rdd"
)

func TestMain(m *testing.M) {
	rdd.Init() // the local-cluster test starts this test binary as executors
	os.Exit(m.Run())
}

func TestRanksMatchPlainGo(t *testing.T) {
	cfg := pagerank.Config{Pages: 2_000, Links: 5, Iterations: 6, Partitions: 5, Seed: 3, Top: 10}
	local, err := rdd.NewSession(rdd.WithMaster("local[3]"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	got, err := pagerank.Run(context.Background(), local, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := pagerank.Reference(cfg)
	if len(got.Top) != cfg.Top || math.Abs(got.Total-want.Total) > 1e-6*want.Total {
		t.Fatalf("total %v, want %v (top %v)", got.Total, want.Total, got.Top)
	}
	for i := range got.Top {
		if got.Top[i].Key != want.Top[i].Key || math.Abs(got.Top[i].Value-want.Top[i].Value) > 1e-9*want.Top[i].Value {
			t.Errorf("rank %d: %v, want %v", i, got.Top[i], want.Top[i])
		}
	}

	if testing.Short() {
		return
	}
	// On a cluster: exactly local mode's ranks.
	cluster, err := rdd.NewSession(rdd.WithMaster("local-cluster[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	onCluster, err := pagerank.Run(context.Background(), cluster, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(onCluster) != fmt.Sprint(got) {
		t.Errorf("on local-cluster[2]: %v\nlocal: %v", onCluster, got)
	}
}

// With the links partitioned, an iteration is one shuffle (of the
// contributions) and one stage; with them unpartitioned, every iteration
// shuffles the links again. Both rank alike.
func TestLinksAreShuffledOnce(t *testing.T) {
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stages atomic.Int64
	s.OnStageEvent(func(ev rdd.StageEvent) {
		if ev.Kind == rdd.StageStarted {
			stages.Add(1)
		}
	})
	ctx := context.Background()
	var results []pagerank.Result
	for _, shuffle := range []bool{false, true} {
		cfg := pagerank.Config{Pages: 3_000, Links: 4, Iterations: 5, Partitions: 4, Seed: 9, Top: 5, ShuffleLinks: shuffle}
		links := pagerank.Links(s, cfg)
		if _, err := links.Count(ctx); err != nil {
			t.Fatal(err)
		}
		stages.Store(0)
		top, err := pagerank.Iterate(links, cfg).TakeOrdered(ctx, cfg.Top, func(a, b pagerank.Rank) int { return cmp.Compare(b.Value, a.Value) })
		if err != nil {
			t.Fatal(err)
		}
		links.Unpersist()
		// A map stage per iteration and the result stage; unpartitioned,
		// another map stage per iteration shuffles the links (and, the
		// first time, the ranks made from them).
		want := int64(cfg.Iterations + 1)
		if shuffle {
			want = int64(2*cfg.Iterations + 2)
		}
		if n := stages.Load(); n != want {
			t.Errorf("ShuffleLinks %v: %d stages for %d iterations, want %d", shuffle, n, cfg.Iterations, want)
		}
		results = append(results, pagerank.Result{Top: top})
	}
	for i := range results[0].Top {
		a, b := results[0].Top[i], results[1].Top[i]
		if a.Key != b.Key || math.Abs(a.Value-b.Value) > 1e-9*a.Value {
			t.Errorf("rank %d: %v partitioned, %v not", i, a, b)
		}
	}
}
