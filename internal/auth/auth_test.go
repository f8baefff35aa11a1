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
