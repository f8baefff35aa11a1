package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	key := []byte("s3cret-of-sixteen-bytes")
	now := time.Unix(1_800_000_000, 0)
	call := Claims{Method: "/ember.Executor/Connect", Target: "10.0.0.1:7947", Binding: []byte("tls session a")}
	fresh := func(c Claims, at time.Time) string {
		tok, err := NewToken(key, c, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	v := &Verifier{Keys: [][]byte{key}, Names: []string{"10.0.0.1:7947"}}
	tok := fresh(call, now)
	if err := v.Verify(tok, call, now.Add(TTL/2)); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	other := func(f func(*Claims)) Claims { c := call; f(&c); return c }
	for name, tc := range map[string]struct {
		v     *Verifier
		token string
		c     Claims
		now   time.Time
		want  string
	}{
		"replayed":            {v, tok, call, now, "already used"},
		"another method":      {v, fresh(call, now), other(func(c *Claims) { c.Method = "/ember.Executor/Upload" }), now, "wrong secret"},
		"another connection":  {v, fresh(call, now), other(func(c *Claims) { c.Binding = []byte("tls session b") }), now, "wrong secret"},
		"plain TCP":           {v, fresh(call, now), other(func(c *Claims) { c.Binding = nil }), now, "wrong secret"},
		"another target":      {v, fresh(call, now), other(func(c *Claims) { c.Target = "10.0.0.2:7947" }), now, "wrong secret"},
		"made for another":    {&Verifier{Keys: [][]byte{key}, Names: []string{"10.0.0.2:7947"}}, fresh(call, now), call, now, "made for 10.0.0.1:7947"},
		"wrong secret":        {&Verifier{Keys: [][]byte{[]byte("another secret of 16 bytes")}}, fresh(call, now), call, now, "wrong secret"},
		"expired":             {v, fresh(call, now), call, now.Add(TTL + ClockSkew + time.Second), "expired"},
		"from the future":     {v, fresh(call, now.Add(TTL+ClockSkew+time.Second)), call, now, "longer than"},
		"malformed":           {v, "garbage", call, now, "malformed"},
		"v1":                  {v, "v1.1800000000." + strings.Repeat("ab", 32), call, now, "malformed"},
		"bad expiry":          {v, "v2..x." + strings.Repeat("0", 32) + "." + strings.Repeat("0", 64), call, now, "bad expiry"},
		"short nonce":         {v, "v2..1800000000.00." + strings.Repeat("0", 64), call, now, "bad nonce"},
		"forged":              {v, "v2..1800000000." + strings.Repeat("0", 32) + "." + strings.Repeat("ab", 32), call, now, "wrong secret"},
		"no secret":           {&Verifier{}, fresh(call, now), call, now, "no secret"},
		"an app's, not taken": {v, mustToken(t, key, other(func(c *Claims) { c.App = "app-1" }), now), call, now, "no application's tokens"},
	} {
		err := tc.v.Verify(tc.token, tc.c, tc.now)
		if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrUnauthenticated saying %q", name, err, tc.want)
		}
	}
}

// An application's token is checked with the application's key, and only
// for the methods it may call.
func TestAppTokens(t *testing.T) {
	appKey := []byte("the key of app-1 on executor e1")
	v := &Verifier{Keys: [][]byte{[]byte("the cluster secret key")}, AppMethods: []string{"/flight/DoGet"},
		AppKey: func(app string) ([]byte, bool) { return appKey, app == "app-1" }}
	now := time.Now()
	get := Claims{Method: "/flight/DoGet", Target: "127.0.0.1:1", App: "app-1"}
	if err := v.Verify(mustToken(t, appKey, get, now), get, now); err != nil {
		t.Fatalf("the app's own token: %v", err)
	}
	upload := get
	upload.Method = "/ember.Executor/Upload"
	if err := v.Verify(mustToken(t, appKey, upload, now), upload, now); err == nil || !strings.Contains(err.Error(), "cannot call") {
		t.Errorf("an app's token for another method: %v", err)
	}
	app2 := get
	app2.App = "app-2"
	if err := v.Verify(mustToken(t, appKey, app2, now), app2, now); err == nil || !strings.Contains(err.Error(), "no application") {
		t.Errorf("another app's token: %v", err)
	}
}

// The replay cache forgets what has expired and refuses calls past its
// bound instead of growing.
func TestReplayCacheIsBounded(t *testing.T) {
	c := newReplayCache(3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if err := c.add(strconv.Itoa(i), now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add("3", now.Add(time.Minute), now); err == nil || !strings.Contains(err.Error(), "more than 3 calls") {
		t.Fatalf("past the bound: %v", err)
	}
	later := now.Add(2 * time.Minute)
	if err := c.add("3", later.Add(time.Minute), later); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
	if len(c.forget) != 1 {
		t.Errorf("the cache holds %d nonces, want 1", len(c.forget))
	}
}

func mustToken(t *testing.T, key []byte, c Claims, now time.Time) string {
	t.Helper()
	tok, err := NewToken(key, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("  sixteen-bytes-or-more\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny\n"), 0o600)
	if s, err := ReadSecret(good, "--secret-file"); err != nil || string(s) != "sixteen-bytes-or-more" {
		t.Fatalf("ReadSecret(good) = %q, %v", s, err)
	}
	if _, err := ReadSecret(short, "--secret-file"); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short secret file: %v", err)
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing"), "--secret-file"); err == nil {
		t.Fatal("missing secret file accepted")
	}
	t.Setenv("EMBER_SECRET", " short ")
	if _, err := ReadSecret("", "--secret-file"); err == nil || !strings.Contains(err.Error(), "EMBER_SECRET") {
		t.Fatalf("short EMBER_SECRET: %v", err)
	}
	t.Setenv("EMBER_SECRET", "")
	if s, err := ReadSecret("", "--secret-file"); err != nil || len(s) != 0 {
		t.Fatalf("no secret: %q, %v (loopback clusters may go without)", s, err)
	}
}

func TestRotation(t *testing.T) {
	const oldKey, newKey = "the old cluster secret key", "the new cluster secret key"
	now := time.Now()
	before := []byte(oldKey)
	during1, during2 := []byte(oldKey+"\n"+newKey), []byte(newKey+"\n"+oldKey)
	after := []byte(newKey)
	c := Claims{Method: "/m", Target: "h:1"}
	for _, tc := range []struct {
		signer, verifier []byte
		ok               bool
	}{
		{before, during1, true}, {during1, during2, true}, {during2, during1, true},
		{during2, after, true}, {after, during1, true},
		{before, after, false}, {after, before, false},
	} {
		v := &Verifier{Keys: Keys(tc.verifier)}
		err := v.Verify(mustToken(t, Keys(tc.signer)[0], c, now), c, now)
		if (err == nil) != tc.ok {
			t.Errorf("signed with %q, verified with %q: %v, want ok=%v", tc.signer, tc.verifier, err, tc.ok)
		}
	}
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak")
	os.WriteFile(weak, []byte(newKey+"\nshort\n"), 0o600)
	if _, err := ReadSecret(weak, "--secret-file"); err == nil || !strings.Contains(err.Error(), "key 2") {
		t.Errorf("a short second key: %v", err)
	}
}
