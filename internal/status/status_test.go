package status

import (
	"net"
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
		s, err := Serve("127.0.0.1", 4040, http.NotFoundHandler(), "")
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
	}), "")
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

// Beyond loopback the server answers only with its token: as a bearer
// token, or from the query once, which sets a cookie.
func TestTokenGuard(t *testing.T) {
	s, err := Serve("0.0.0.0", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok " + r.URL.RawQuery))
	}), "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, port, _ := net.SplitHostPort(s.Addr())
	base := "http://127.0.0.1:" + port
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url string, header, cookie string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "ember_ui_token", Value: cookie})
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		what, url, header, cookie string
		want                      int
	}{
		{"nothing", base + "/api/v1/jobs", "", "", http.StatusUnauthorized},
		{"a wrong bearer", base + "/", "Bearer s3cre", "", http.StatusUnauthorized},
		{"a wrong query", base + "/?token=x", "", "", http.StatusUnauthorized},
		{"a wrong cookie", base + "/", "", "nope", http.StatusUnauthorized},
		{"basic auth", base + "/", "Basic czNjcmV0", "", http.StatusUnauthorized},
		{"the bearer", base + "/metrics", "Bearer s3cret", "", http.StatusOK},
		{"the cookie", base + "/", "", "s3cret", http.StatusOK},
	} {
		if got := get(c.url, c.header, c.cookie).StatusCode; got != c.want {
			t.Errorf("%s: status %d, want %d", c.what, got, c.want)
		}
	}
	resp := get(base+"/jobs?a=1&token=s3cret", "", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/jobs?a=1" {
		t.Fatalf("the token in the query: %d to %q, want 303 to /jobs?a=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "ember_ui_token" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "s3cret" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the token in the query set the cookie %+v", cookie)
	}
	if got := get(base+"/jobs?a=1", "", cookie.Value).StatusCode; got != http.StatusOK {
		t.Errorf("following the redirect with the cookie: %d", got)
	}
}
