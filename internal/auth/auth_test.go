package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	tok := NewToken(secret, now, time.Minute)
	if err := Verify(secret, tok, now.Add(30*time.Second)); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	for name, tc := range map[string]struct {
		secret []byte
		token  string
		now    time.Time
		want   string
	}{
		"wrong secret": {[]byte("other"), tok, now, "wrong secret"},
		"expired":      {secret, tok, now.Add(2 * time.Minute), "expired"},
		"malformed":    {secret, "garbage", now, "malformed"},
		"bad expiry":   {secret, "v1.x." + strings.Repeat("0", 64), now, "malformed"},
		"forged":       {secret, "v1.9999999999." + strings.Repeat("ab", 32), now, "wrong secret"},
		"no secret":    {nil, tok, now, "no secret"},
		"too long":     {secret, NewToken(secret, now, 100*365*24*time.Hour), now, "longer than"},
	} {
		err := Verify(tc.secret, tc.token, tc.now)
		if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrUnauthenticated saying %q", name, err, tc.want)
		}
	}
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
	for _, tc := range []struct {
		signer, verifier []byte
		ok               bool
	}{
		{before, during1, true}, {during1, during2, true}, {during2, during1, true},
		{during2, after, true}, {after, during1, true},
		{before, after, false}, {after, before, false},
	} {
		err := Verify(tc.verifier, NewToken(tc.signer, now, DefaultTTL), now)
		if (err == nil) != tc.ok {
			t.Errorf("signed with %q, verified with %q: %v, want ok=%v", tc.signer, tc.verifier, err, tc.ok)
		}
	}
	// Replaying a captured token after its lifetime fails.
	token := NewToken(during1, now, DefaultTTL)
	if err := Verify(during1, token, now.Add(DefaultTTL+time.Second)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a replayed expired token: %v", err)
	}
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak")
	os.WriteFile(weak, []byte(newKey+"\nshort\n"), 0o600)
	if _, err := ReadSecret(weak, "--secret-file"); err == nil || !strings.Contains(err.Error(), "key 2") {
		t.Errorf("a short second key: %v", err)
	}
}
