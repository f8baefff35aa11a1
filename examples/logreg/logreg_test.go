package logreg_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/ember-go/ember/examples/logreg"
	"github.com/ember-go/ember/rdd"
)

func TestMain(m *testing.M) {
	rdd.Init() // the local-cluster test starts this test binary as executors
	os.Exit(m.Run())
}

func TestWeightsMatchPlainGo(t *testing.T) {
	cfg := logreg.Config{Points: 20_000, Dims: 4, Iterations: 8, Rate: 1, Partitions: 4, Seed: 2}
	local, err := rdd.NewSession(rdd.WithMaster("local[3]"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	got, err := logreg.Run(context.Background(), local, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := logreg.Reference(cfg, cfg.Partitions)
	for i := range want.Weights {
		if math.Abs(got.Weights[i]-want.Weights[i]) > 1e-9*math.Max(1, math.Abs(want.Weights[i])) {
			t.Errorf("weight %d: %v, want %v", i, got.Weights[i], want.Weights[i])
		}
	}
	if got.Accuracy != want.Accuracy || got.Accuracy < 0.85 {
		t.Errorf("accuracy %v, want %v (and at least 0.85: the labels are 5%% noise)", got.Accuracy, want.Accuracy)
	}

	if testing.Short() {
		return
	}
	// On a cluster: exactly local mode's weights, though every iteration's
	// closure holds the weights of the one before.
	cluster, err := rdd.NewSession(rdd.WithMaster("local-cluster[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	onCluster, err := logreg.Run(context.Background(), cluster, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(onCluster) != fmt.Sprint(got) {
		t.Errorf("on local-cluster[2]: %v\nlocal: %v", onCluster, got)
	}
}
