package rdd

import "github.com/ember-go/ember/scheduler"

// DependenciesOf gives the tests the dependencies of r on its parents, as
// the scheduler sees them.
func DependenciesOf[T any](r *RDD[T]) []scheduler.Dependency { return r.deps }

// SetInitialized sets whether Init has run, for tests of registration
// before it; it returns the earlier setting.
func SetInitialized(done bool) bool { return initialized.Swap(done) }

// SetReadBudget sets the most memory the reader of one Arrow or Parquet
// file may hold, for tests of hostile files; it returns the earlier one.
func SetReadBudget(n int64) int64 {
	old := readBudget
	readBudget = n
	return old
}
