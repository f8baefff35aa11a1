// Package rdd is Ember's public API: resilient distributed datasets in the
// style of Apache Spark, for Go.
//
// A program opens a Session, builds RDDs from sources (Parallelize, Range,
// Generate, TextFile) and transformations (Map, Filter, ReduceByKey, Join,
// SortBy, …), and runs actions (Collect, Count, Reduce, SaveAsArrow, …).
// Transformations are lazy: they only record lineage, the graph of which RDD
// is computed from which. An action hands that graph to the DAG scheduler,
// which cuts it into stages at shuffles and runs one task per partition.
//
//	s, err := rdd.NewSession() // local[*]: one task slot per CPU
//	if err != nil { … }
//	defer s.Close()
//	a := rdd.Parallelize(s, xs, 0)
//	b := rdd.Parallelize(s, ys, 0)
//	products := rdd.Map(rdd.Zip(a, b), func(p rdd.Pair[float64, float64]) float64 {
//		return p.Key * p.Value
//	})
//	dot, err := products.Reduce(ctx, func(x, y float64) float64 { return x + y })
//
// Type-changing transformations are functions (rdd.Map(r, f)), since Go
// methods have no type parameters of their own; type-preserving ones are
// methods (r.Filter(f).Cache()).
//
// # Element types
//
// Partitions cross stage boundaries, and are cached, as Apache Arrow record
// batches, so an RDD's element type must map to Arrow: bool, integers,
// floats, string, []byte, time.Time, structs of these (one column per
// exported field), slices, arrays, maps, pointers (nullable values) and Pair,
// nested freely. The mapping is derived once, when the RDD is built; an
// unsupported type (a channel, a function, an interface) is an error then,
// reported by Err and by every action, naming the type and the field.
// Inside a stage, operators pass batches of Go values; a cached partition of
// a primitive type is read without copying from its Arrow buffer.
//
// Keys (of ReduceByKey, Join, Distinct, CountByValue, …) are compared with
// Go's ==, as map keys are: a NaN key equals no other key, not even NaN.
//
// # Partitioners
//
// A wide operation by key sends each pair to the partition its key's hash
// gives (a HashPartitioner of the partition count). The RDD it makes
// remembers that (PartitionerOf), and so do Filter, MapValues,
// FlatMapValues and Cache of it; PartitionBy partitions an RDD by any
// Partitioner. A wide operation whose input already has the partitioner it
// needs reads that input where it is, without a shuffle: cache a large
// RDD partitioned by its keys once, and joins with it move only the other
// side (see ExamplePartitionBy). Given a partition count of 0, a wide
// operation takes the partitioner of its inputs, as Spark's
// defaultPartitioner does; the …With forms (ReduceByKeyWith,
// GroupByKeyWith, CoGroupWith, JoinWith) take a partitioner.
//
// # Errors
//
// Every RDD records its creation site, the file:line of the call that built
// it, and shows it in Lineage and in errors. A panic in a user function
// fails its task with a *PanicError naming the RDD; the task is retried
// (Config.TaskMaxFailures attempts in all) and then the job fails with the
// panic's value and stack. Cancelling an action's context stops its tasks.
package rdd
