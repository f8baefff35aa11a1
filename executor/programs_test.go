package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

// A program stays in the store while an application runs it and for
// uploadGrace after its last upload, however the applications that run it
// interleave with uploads of it; then the last end removes it.
func TestProgramStoreKeepsWhatIsInUse(t *testing.T) {
	p, err := newPrograms(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	sum := hex.EncodeToString(sha256.New().Sum(nil))
	path, err := p.path(sum)
	if err != nil {
		t.Fatal(err)
	}
	install := func() {
		t.Helper()
		if err := os.WriteFile(path, []byte("program"), 0o700); err != nil {
			t.Fatal(err)
		}
		p.stored(sum)
	}
	kept := func() bool {
		_, err := os.Stat(path)
		return err == nil
	}
	age := func() { // the last upload is older than its grace
		p.mu.Lock()
		p.installed[sum] = time.Now().Add(-2 * uploadGrace)
		p.mu.Unlock()
	}

	install()
	first := p.use(sum)
	age()
	// Uploaded again by a second driver while the first application
	// runs it: the first one's end must not remove it from under the
	// second, which has not opened its application yet.
	install()
	first()
	if !kept() {
		t.Fatal("the program was removed while its second upload was within its grace")
	}
	second := p.use(sum)
	third := p.use(sum)
	age()
	second()
	if !kept() {
		t.Fatal("the program was removed while an application still ran it")
	}
	third()
	if kept() {
		t.Fatal("the program was kept after its last application ended and its upload's grace passed")
	}

	// One never run is removed by another application's end, once its
	// grace has passed.
	install()
	other := hex.EncodeToString(sha256.New().Sum([]byte("x")))
	p.use(other)()
	if !kept() {
		t.Fatal("a program uploaded a moment ago was removed by another application's end")
	}
	age()
	p.use(other)()
	if kept() {
		t.Fatal("a program never run was kept after its grace")
	}
}
