package auth

import (
	"crypto/hmac"
	"fmt"
	"sync"
	"time"
)

// Verifier checks the tokens of the calls a server receives. Its zero
// value refuses every token.
type Verifier struct {
	// Keys are the keys a token may be signed with (Keys of the secret).
	Keys [][]byte
	// Names are the targets the server answers to (its addresses as
	// callers dial them, host:port); a token made for another is refused.
	// Empty accepts any target.
	Names []string
	// AppKey, if set, gives the key of an application's tokens, and false
	// for an application whose tokens are refused.
	AppKey func(app string) ([]byte, bool)
	// AppMethods are the methods an application's token may call.
	AppMethods []string

	once sync.Once
	seen *replayCache
}

// MaxRecentTokens bounds the tokens a verifier remembers to refuse their
// replay: at most as many calls, within TTL and twice ClockSkew, are
// accepted; past it a call is refused until older tokens expire.
const MaxRecentTokens = 1 << 19

// Verify checks that tok was signed with one of v's keys (or the key of
// the application it names) for claims c and has not expired, and that it
// was not used before: a token is good for one call.
func (v *Verifier) Verify(tok string, c Claims, now time.Time) error {
	v.once.Do(func() { v.seen = newReplayCache(MaxRecentTokens) })
	t, err := parseToken(tok)
	if err != nil {
		return err
	}
	c.App = t.app
	keys, err := v.keysFor(t.app, c.Method)
	if err != nil {
		return err
	}
	if !signedByOneOf(keys, t, c) {
		return fmt.Errorf("%w: wrong secret, or a token made for another call, server or connection", ErrUnauthenticated)
	}
	if err := v.checkTarget(c.Target); err != nil {
		return err
	}
	if err := t.checkTime(now); err != nil {
		return err
	}
	return v.seen.add(t.nonce, time.Unix(t.expiry, 0).Add(ClockSkew), now)
}

// keysFor returns the keys that may sign a token of app (cluster keys when
// app is empty) calling method.
func (v *Verifier) keysFor(app, method string) ([][]byte, error) {
	if app == "" {
		if len(v.Keys) == 0 {
			return nil, fmt.Errorf("%w: the server has no secret", ErrUnauthenticated)
		}
		return v.Keys, nil
	}
	if v.AppKey == nil {
		return nil, fmt.Errorf("%w: this server takes no application's tokens", ErrUnauthenticated)
	}
	key, ok := v.AppKey(app)
	if !ok {
		return nil, fmt.Errorf("%w: no application %q here", ErrUnauthenticated, app)
	}
	for _, m := range v.AppMethods {
		if m == method {
			return [][]byte{key}, nil
		}
	}
	return nil, fmt.Errorf("%w: an application's token cannot call %s", ErrUnauthenticated, method)
}

func signedByOneOf(keys [][]byte, t token, c Claims) bool {
	ok := false
	for _, key := range keys {
		ok = hmac.Equal([]byte(t.mac), []byte(sign(key, t, c))) || ok
	}
	return ok
}

// checkTarget refuses a token made for another server. The signature has
// been checked, so the target is what the caller dialled.
func (v *Verifier) checkTarget(target string) error {
	if len(v.Names) == 0 {
		return nil
	}
	for _, n := range v.Names {
		if normalTarget(n) == target {
			return nil
		}
	}
	return fmt.Errorf("%w: token made for %s, but this server is %v", ErrUnauthenticated, target, v.Names)
}

// replayCache remembers the nonces of accepted tokens until they expire.
type replayCache struct {
	mu        sync.Mutex
	forget    map[string]time.Time // nonce → when it may be forgotten
	max       int
	nextSweep time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{forget: map[string]time.Time{}, max: max}
}

// add records nonce until forget, and refuses one already recorded.
func (c *replayCache) add(nonce string, forget, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.forget[nonce]; ok {
		return fmt.Errorf("%w: token already used (a replayed call)", ErrUnauthenticated)
	}
	if now.After(c.nextSweep) || len(c.forget) >= c.max {
		c.sweep(now)
	}
	if len(c.forget) >= c.max {
		return fmt.Errorf("%w: more than %d calls in %v: try again", ErrUnauthenticated, c.max, TTL+2*ClockSkew)
	}
	c.forget[nonce] = forget
	return nil
}

// sweep forgets the expired nonces; it runs at most once a second but
// when the cache is full.
func (c *replayCache) sweep(now time.Time) {
	for n, t := range c.forget {
		if now.After(t) {
			delete(c.forget, n)
		}
	}
	c.nextSweep = now.Add(time.Second)
}
