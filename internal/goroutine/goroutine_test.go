package goroutine

import (
	"sync"
	"testing"
)

func TestIDsAreTheRuntimes(t *testing.T) {
	if !Reliable() {
		t.Fatal("the fast goroutine id disagrees with the runtime's on this Go release: accumulators would count failed attempts")
	}
	ids := make(chan [2]int64, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids <- [2]int64{ID(), fromStack()}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{ID(): true}
	for id := range ids {
		if id[0] != id[1] || id[0] <= 0 || seen[id[0]] {
			t.Fatalf("goroutine id %d, stack says %d (seen before: %v)", id[0], id[1], seen[id[0]])
		}
		seen[id[0]] = true
	}
}

func BenchmarkID(b *testing.B) {
	for b.Loop() {
		ID()
	}
}
