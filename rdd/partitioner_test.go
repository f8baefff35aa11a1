package rdd_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ember-go/ember/rdd"
)

// lastDigit is a user partitioner: a key goes by its last character.
type lastDigit struct{ n int }

func (p lastDigit) NumPartitions() int { return p.n }
func (p lastDigit) Partition(k string) int {
	if k == "" {
		return 0
	}
	return int(k[len(k)-1]) % p.n
}
func (p lastDigit) Equal(q rdd.Partitioner[string]) bool {
	o, ok := q.(lastDigit)
	return ok && o.n == p.n
}

// stageCounter counts the stages that the session's jobs run.
type stageCounter struct{ n atomic.Int64 }

func countStages(s *rdd.Session) *stageCounter {
	c := &stageCounter{}
	s.OnStageEvent(func(ev rdd.StageEvent) {
		if ev.Kind == rdd.StageStarted {
			c.n.Add(1)
		}
	})
	return c
}

// take returns the stages run since the last call.
func (c *stageCounter) take() int64 { return c.n.Swap(0) }

// shuffles is how many shuffles the lineage of r shows.
func shuffles[T any](r *rdd.RDD[T]) int { return strings.Count(r.Lineage(), "+-") }

func TestPartitionByPutsEveryKeyInItsPartition(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pairs(c, 3)
			for _, part := range []rdd.Partitioner[string]{lastDigit{3}, rdd.NewHashPartitioner[string](5), lastDigit{1}} {
				by := rdd.PartitionBy(rdd.Parallelize(s, in, c.parts), part)
				if by.NumPartitions() != part.NumPartitions() || !part.Equal(rdd.PartitionerOf(by)) {
					t.Fatalf("PartitionBy(%v): %d partitions, partitioner %v", part, by.NumPartitions(), rdd.PartitionerOf(by))
				}
				parts, err := rdd.Glom(by).Collect(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var all []kv
				for i, ps := range parts {
					for _, p := range ps {
						if got := part.Partition(p.Key); got != i {
							t.Fatalf("PartitionBy(%v): key %q in partition %d, belongs in %d", part, p.Key, i, got)
						}
					}
					all = append(all, ps...)
				}
				sameElements(t, fmt.Sprint("PartitionBy ", part), all, in)
				if again := rdd.PartitionBy(by, part); again != by {
					t.Errorf("PartitionBy of an RDD partitioned alike is a new RDD:\n%s", again.Lineage())
				}
			}
		})
	}
}

func TestWhichRDDsKnowTheirPartitioner(t *testing.T) {
	s := newSession(t)
	hash4 := rdd.NewHashPartitioner[string](4)
	a := rdd.PartitionBy(rdd.Parallelize(s, pairs(cases[5], 1), 3), hash4)
	b := rdd.Parallelize(s, pairs(cases[5], 2), 2)
	sum := func(x, y int64) int64 { return x + y }
	keeps := map[string]rdd.Partitioner[string]{
		"Filter":        rdd.PartitionerOf(a.Filter(func(p kv) bool { return p.Value > 0 })),
		"MapValues":     rdd.PartitionerOf(rdd.MapValues(a, func(v int64) int64 { return -v })),
		"FlatMapValues": rdd.PartitionerOf(rdd.FlatMapValues(a, func(v int64) []int64 { return []int64{v, v} })),
		"Cache":         rdd.PartitionerOf(a.Cache()),
		"Distinct":      rdd.PartitionerOf(rdd.Distinct(a, 0)),
		"ReduceByKey":   rdd.PartitionerOf(rdd.ReduceByKey(b, sum, 4)),
		"GroupByKey":    rdd.PartitionerOf(rdd.GroupByKey(b, 4)),
		"CoGroup":       rdd.PartitionerOf(rdd.CoGroup(a, b, 0)),
		"Join":          rdd.PartitionerOf(rdd.Join(b, a, 0)),
		"LeftOuterJoin": rdd.PartitionerOf(rdd.LeftOuterJoin(a, b, 4)),
		"SubtractByKey": rdd.PartitionerOf(rdd.SubtractByKey(a, b, 0)),
	}
	for op, p := range keeps {
		if p == nil || !hash4.Equal(p) {
			t.Errorf("%s: partitioner %v, want %v", op, p, hash4)
		}
	}
	drops := map[string]rdd.Partitioner[string]{
		"Map":         rdd.PartitionerOf(rdd.Map(a, func(p kv) kv { return p })),
		"FlatMap":     rdd.PartitionerOf(rdd.FlatMap(a, func(p kv) []kv { return []kv{p} })),
		"Repartition": rdd.PartitionerOf(a.Repartition(4)),
		"Union":       rdd.PartitionerOf(a.Union(a)),
		"source":      rdd.PartitionerOf(b),
	}
	for op, p := range drops {
		if p != nil {
			t.Errorf("%s: partitioner %v, want none", op, p)
		}
	}
	if p := rdd.PartitionerOf(rdd.ReduceByKey(a, sum, 5)); p == nil || p.NumPartitions() != 5 {
		t.Errorf("ReduceByKey into 5 partitions: partitioner %v", p)
	}
	if !hash4.Equal(rdd.NewHashPartitioner[string](4)) || hash4.Equal(rdd.NewHashPartitioner[string](5)) || hash4.Equal(lastDigit{4}) {
		t.Error("hash partitioners are equal exactly when their counts are")
	}
}

// Wide operations over inputs that already have the partitioner they need
// read them where they are: no shuffle in their lineage, and no stage but
// the result's when the partitioned input is cached.
func TestCoPartitionedOperationsDoNotShuffle(t *testing.T) {
	s := newSession(t)
	stages := countStages(s)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			left, right := pairs(c, 5), joinSide(c)
			for _, part := range []rdd.Partitioner[string]{rdd.NewHashPartitioner[string](4), lastDigit{3}} {
				a := rdd.PartitionBy(rdd.Parallelize(s, left, c.parts), part).Cache()
				b := rdd.PartitionBy(rdd.Parallelize(s, right, 2), part).Cache()
				if _, err := a.Count(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Count(ctx); err != nil {
					t.Fatal(err)
				}
				stages.take()
				groupsA, groupsB := group(left), group(right)
				sum := func(x, y int64) int64 { return x + y }

				narrow := func(what string, r interface{ Lineage() string }, wantShuffles int, got, want []string) {
					t.Helper()
					if n := strings.Count(r.Lineage(), "+-"); n != wantShuffles {
						t.Errorf("%s over %v: %d shuffles, want %d:\n%s", what, part, n, wantShuffles, r.Lineage())
					}
					if n := stages.take(); n != 1 {
						t.Errorf("%s over %v ran %d stages, want 1", what, part, n)
					}
					sameElements(t, fmt.Sprint(what, " over ", part), got, want)
				}
				var want []string
				for k, vs := range groupsA {
					var total int64
					for _, v := range vs {
						total += v
					}
					want = append(want, line(k, total, ""))
				}
				reduced := rdd.ReduceByKeyWith(a, sum, part)
				narrow("ReduceByKeyWith", reduced, 1, lines(t, reduced, func(p kv) string { return line(p.Key, p.Value, "") }), want)
				reduced = rdd.ReduceByKey(a, sum, 0)
				narrow("ReduceByKey", reduced, 1, lines(t, reduced, func(p kv) string { return line(p.Key, p.Value, "") }), want)

				want = want[:0]
				for k, vs := range groupsA {
					want = append(want, line(k, sorted(vs), ""))
				}
				grouped := rdd.GroupByKey(a, 0)
				narrow("GroupByKey", grouped, 1, lines(t, grouped, func(p rdd.Pair[string, []int64]) string { return line(p.Key, sorted(p.Value), "") }), want)

				want = want[:0]
				for _, k := range union(groupsA, groupsB) {
					want = append(want, line(k, sorted(groupsA[k]), sorted(groupsB[k])))
				}
				co := rdd.CoGroupWith(a, b, part)
				narrow("CoGroupWith", co, 2, lines(t, co, func(p rdd.Pair[string, rdd.Pair[[]int64, []int64]]) string {
					return line(p.Key, sorted(p.Value.Key), sorted(p.Value.Value))
				}), want)

				want = want[:0]
				for k, vs := range groupsA {
					for _, v := range vs {
						for _, w := range groupsB[k] {
							want = append(want, line(k, v, w))
						}
					}
				}
				joinLine := func(p rdd.Pair[string, rdd.Pair[int64, int64]]) string {
					return line(p.Key, p.Value.Key, p.Value.Value)
				}
				joined := rdd.Join(a, b, 0)
				narrow("Join", joined, 2, lines(t, joined, joinLine), want)
				joined = rdd.JoinWith(a, b, part)
				narrow("JoinWith", joined, 2, lines(t, joined, joinLine), want)

				want = want[:0]
				for k, vs := range groupsA {
					if len(groupsB[k]) == 0 {
						for _, v := range vs {
							want = append(want, line(k, v, ""))
						}
					}
				}
				rest := rdd.SubtractByKey(a, b, 0)
				if hash, ok := part.(*rdd.HashPartitioner[string]); ok && hash.NumPartitions() == a.NumPartitions() {
					narrow("SubtractByKey", rest, 2, lines(t, rest, func(p kv) string { return line(p.Key, p.Value, "") }), want)
				}

				want = slices.Collect(maps.Keys(set(left)))
				distinct := rdd.Map(rdd.Distinct(a, 0), func(p kv) string { return line(p.Key, p.Value, "") })
				narrow("Distinct", distinct, 1, collect(t, distinct), want)

				// One side partitioned, the other not: only the other is
				// shuffled. Into another count, both are.
				plain := rdd.Parallelize(s, right, 2)
				mixed := rdd.Join(a, plain, 0)
				if n := shuffles(mixed); n != 2 {
					t.Errorf("Join of a partitioned and a plain RDD: %d shuffles, want 2 (a's own and the plain side's):\n%s", n, mixed.Lineage())
				}
				if n := shuffles(rdd.ReduceByKey(a, sum, part.NumPartitions()+1)); n != 2 {
					t.Errorf("ReduceByKey into another count: %d shuffles, want 2", n)
				}
				mixedWant := map[string]int{}
				for k, vs := range groupsA {
					mixedWant[k] = len(vs) * len(groupsB[k])
				}
				got := map[string]int{}
				for _, p := range collect(t, mixed) {
					got[p.Key]++
				}
				maps.DeleteFunc(mixedWant, func(_ string, n int) bool { return n == 0 })
				if !maps.Equal(got, mixedWant) {
					t.Errorf("Join of a partitioned and a plain RDD: %v pairs by key, want %v", got, mixedWant)
				}
				stages.take()
				a.Unpersist()
				b.Unpersist()
			}
		})
	}
}

// set is the distinct pairs of ps, as lines.
func set(ps []kv) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		m[line(p.Key, p.Value, "")] = true
	}
	return m
}

// lines collects r as lines made by f.
func lines[T any](t *testing.T, r *rdd.RDD[T], f func(T) string) []string {
	t.Helper()
	return mapSlice(collect(t, r), f)
}

// outOfRange is a user partitioner that puts some keys nowhere.
type outOfRange struct{}

func (outOfRange) NumPartitions() int { return 2 }
func (outOfRange) Partition(k string) int {
	if k == "k3" {
		return 7
	}
	return 0
}
func (outOfRange) Equal(q rdd.Partitioner[string]) bool { _, ok := q.(outOfRange); return ok }

func TestBadPartitionersAreClearErrors(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	in := rdd.Parallelize(s, pairs(cases[5], 1), 3)
	_, err := rdd.PartitionBy(in, outOfRange{}).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), `put key k3 in partition 7, want one in [0, 2)`) {
		t.Errorf("a key put out of range: %v", err)
	}
	_, err = rdd.ReduceByKeyWith(in, func(x, y int64) int64 { return x + y }, rdd.Partitioner[string](outOfRange{})).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "put key k3 in partition 7") {
		t.Errorf("ReduceByKeyWith a partitioner that puts a key out of range: %v", err)
	}
	for name, r := range map[string]interface{ Err() error }{
		"nil":         rdd.PartitionBy(in, nil),
		"no parts":    rdd.PartitionBy(in, rdd.NewHashPartitioner[string](0)),
		"GroupByKey":  rdd.GroupByKeyWith(in, rdd.NewHashPartitioner[string](-1)),
		"JoinWith":    rdd.JoinWith(in, in, nil),
		"lastDigit 0": rdd.PartitionBy(in, rdd.Partitioner[string](lastDigit{0})),
	} {
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "partition") {
			t.Errorf("%s: Err() = %v, want an error about the partitioner", name, err)
		}
	}
}

func TestLookupReadsOnePartitionWhenItCan(t *testing.T) {
	s := newSession(t)
	var tasks atomic.Int64
	s.OnStageEvent(func(ev rdd.StageEvent) {
		if ev.Kind == rdd.TaskStarted {
			tasks.Add(1)
		}
	})
	ctx := context.Background()
	for _, c := range cases {
		in := pairs(c, 8)
		want := group(in)
		plain := rdd.Parallelize(s, in, c.parts)
		byKey := rdd.PartitionBy(plain, lastDigit{4}).Cache()
		if _, err := byKey.Count(ctx); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"k0", "k1", "k3", "absent"} {
			for name, r := range map[string]*rdd.RDD[kv]{"plain": plain, "partitioned": byKey} {
				tasks.Store(0)
				got, err := rdd.Lookup(ctx, r, k)
				if err != nil {
					t.Fatal(err)
				}
				sameElements(t, fmt.Sprintf("%s: Lookup(%s) of %s", c.name, k, name), got, want[k])
				wantTasks := int64(r.NumPartitions())
				if name == "partitioned" {
					wantTasks = 1
				}
				if n := tasks.Load(); n != wantTasks {
					t.Errorf("%s: Lookup(%s) of %s ran %d tasks, want %d", c.name, k, name, n, wantTasks)
				}
			}
		}
		byKey.Unpersist()
	}
}
