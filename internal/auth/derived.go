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

// AppKey is the key that the worker running application app for the
// executor named executor holds instead of the cluster secret: derived one
// way (HKDF-SHA256) from the secret's first key, the application and the
// executor, and written as a secret line (hex) so that Keys reads it. It
// signs the calls between that executor and that worker alone: no other
// server takes it, and it reveals nothing of the secret.
func AppKey(secret []byte, app, executor string) ([]byte, error) {
	keys := Keys(secret)
	if len(keys) == 0 {
		return nil, errors.New("auth: no secret to derive an application key from")
	}
	b, err := hkdf.Key(sha256.New, keys[0], nil, "ember app key v1\x00"+app+"\x00"+executor, 32)
	if err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(b)), nil
}
