// Command noinit forgets to call rdd.Init: its local cluster's executors,
// which are this program again, cannot serve, and the session says why.
package main

import (
	"fmt"
	"os"

	"github.com/ember-go/ember/rdd"
)

func main() {
	s, err := rdd.NewSession(rdd.WithMaster("local-cluster[2]"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Close()
}
