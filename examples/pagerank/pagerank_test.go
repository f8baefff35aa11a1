package pagerank_test

import (
	"context"
	"fmt"
	"math"
	"os"
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
