package storage

import (
	"errors"
	"testing"
)

func TestLevelString(t *testing.T) {
	tests := []struct {
		l    Level
		want string
	}{
		{None, "NONE"},
		{MemoryOnly, "MEMORY_ONLY"},
		{MemoryAndDisk, "MEMORY_AND_DISK"},
		{DiskOnly, "DISK_ONLY"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestRDDBlockRoundTrip(t *testing.T) {
	for _, c := range [][2]int{{0, 0}, {1, 2}, {17, 0}, {0, 300}, {123456, 7890}} {
		id := RDDBlock(c[0], c[1])
		rdd, part, err := ParseRDDBlock(id)
		if err != nil || rdd != c[0] || part != c[1] {
			t.Errorf("ParseRDDBlock(%q) = %d, %d, %v; want %d, %d, nil", id, rdd, part, err, c[0], c[1])
		}
	}
	if got := RDDBlock(3, 14); got != "rdd_3_14" {
		t.Errorf("RDDBlock(3, 14) = %q", got)
	}
}

func TestParseRDDBlockRejects(t *testing.T) {
	bad := []BlockID{
		"",
		"../x",
		"rdd_1_",
		"rdd__1",
		"rdd_",
		"rdd_1",
		"rdd_-1_2",
		"rdd_1_-2",
		"rdd_+1_2",
		"rdd_1_2/../../etc",
		"rdd_1_2/",
		"/rdd_1_2",
		"rdd_1_2_3",
		"rdd_01_2",
		"rdd_1_02",
		"rdd_1_2 ",
		" rdd_1_2",
		"RDD_1_2",
		"rdd_1_2\x00",
		"rdd_1_2.arrow",
		"rdd_1_99999999999999999999999",
		"rdd_１_2", // fullwidth digit
		"shuffle_1_2_3",
		"rdd_1_2\\..\\x",
	}
	for _, id := range bad {
		if rdd, part, err := ParseRDDBlock(id); !errors.Is(err, ErrInvalidBlockID) {
			t.Errorf("ParseRDDBlock(%q) = %d, %d, %v; want ErrInvalidBlockID", id, rdd, part, err)
		}
	}
}
