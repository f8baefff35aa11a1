package status

import (
	"net/http"
	"testing"
)

// Many sessions at once: when the ports after the chosen one are taken,
// any free port does.
func TestServeFindsAPort(t *testing.T) {
	var servers []*Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	seen := map[string]bool{}
	for range 20 {
		s, err := Serve("127.0.0.1", 4040, http.NotFoundHandler())
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
		if seen[s.Addr()] {
			t.Fatalf("two servers on %s", s.Addr())
		}
		seen[s.Addr()] = true
	}
}
