package authtest

import (
	"net/http"
	"testing"
)

// RequiresBearer checks that url answers 401 without a bearer token and
// with a wrong one, and 200 with token.
func RequiresBearer(t *testing.T, url, token string) {
	t.Helper()
	for bearer, want := range map[string]int{"": http.StatusUnauthorized, "Bearer x" + token: http.StatusUnauthorized, "Bearer " + token: http.StatusOK} {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s with %q: status %d, want %d", url, bearer, resp.StatusCode, want)
		}
	}
}
