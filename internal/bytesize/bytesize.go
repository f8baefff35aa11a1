// Package bytesize reads and writes byte counts for people: it parses
// "512m", "2GB" or "1048576", and writes "1.5 KiB".
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Parse reads a non-negative byte count, optionally with a k, m or g suffix
// (powers of 1024, any case, an optional trailing b).
func Parse(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a byte count such as 512m or 2g", s)
	}
	return n * mult, nil
}

// Format writes n the way Parse reads it, with the largest unit that
// divides it ("4g", "512m", "1000").
func Format(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Readable writes n for people: "512 B", "1.5 KiB", "3.2 GiB".
func Readable(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
