// Package await waits, in tests, for a state they can observe, rather than
// sleeping for a time they guess.
package await

import "time"

// Until polls cond until it holds or timeout has passed, and reports
// whether it held.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
