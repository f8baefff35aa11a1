package bytesize

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "64k": 64 << 10, "512m": 512 << 20, "2GB": 2 << 30, " 3G ": 3 << 30, "7b": 7} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "lots", "1.5g", "9999999999g", "g"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1 << 10, 3 << 20, 5 << 30, 1<<30 + 1, 1 << 40} {
		s := Format(n)
		back, err := Parse(s)
		if err != nil || back != n {
			t.Errorf("Format(%d) = %q, which parses as %d, %v", n, s, back, err)
		}
	}
	if s := Format(4 << 30); s != "4g" {
		t.Errorf("Format(4 GiB) = %q, want 4g", s)
	}
}

// FuzzParse: a size parses to a non-negative count that Format writes back
// to the same count, or fails.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"512m", "2GB", "1048576", "4XB", "-1", "9999999999999g", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed as %d", s, n)
		}
		if back, err := Parse(Format(n)); err != nil || back != n {
			t.Fatalf("%q: %d formats as %q, which parses as %d, %v", s, n, Format(n), back, err)
		}
	})
}

func TestReadable(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := Readable(n); got != want {
			t.Errorf("Readable(%d) = %q, want %q", n, got, want)
		}
	}
}
