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

// A page whose own host name resolves to this machine (DNS rebinding) is
// refused; the server's address, localhost and the bind name are served.
func TestHostGuard(t *testing.T) {
	s, err := Serve("127.0.0.1", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for host, want := range map[string]int{
		"evil.example":           http.StatusMisdirectedRequest,
		"evil.example:4040":      http.StatusMisdirectedRequest,
		"localhost.evil.example": http.StatusMisdirectedRequest,
		s.Addr():                 http.StatusOK,
		"localhost:4040":         http.StatusOK,
		"LOCALHOST.":             http.StatusOK,
		"[::1]:4040":             http.StatusOK,
		"127.0.0.1":              http.StatusOK,
	} {
		req, err := http.NewRequest("GET", "http://"+s.Addr()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: status %d, want %d", host, resp.StatusCode, want)
		}
	}
}
