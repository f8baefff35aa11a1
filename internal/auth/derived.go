package auth

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// UIToken is the token that the status servers of the holders of secret
// (a driver's web UI, an executor's /metrics) ask of their readers when
// they listen beyond loopback: derived, one way, from the secret's first
// key, so that every holder can compute it and it reveals nothing of the
// secret. Without a secret it is random, as for a session in local mode.
func UIToken(secret []byte) (string, error) {
	keys := Keys(secret)
	if len(keys) == 0 {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", errors.New("auth: no randomness for a UI token")
		}
		return hex.EncodeToString(b), nil
	}
	b, err := hkdf.Key(sha256.New, keys[0], nil, "ember UI token v1", 16)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
