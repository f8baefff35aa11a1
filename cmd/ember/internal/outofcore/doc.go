// Package outofcore holds the test that runs jobs over more data than
// memory inside a memory cgroup the test makes (cgroup_test.go), with the
// job it runs in testdata/job: a package of its own, so that its minutes
// run beside the other packages' tests.
package outofcore
