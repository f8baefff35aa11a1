// Package shuffle moves records between the stages of a job: partitioners
// decide which reduce partition a record belongs to, and a Manager stores
// each map task's output on local disk for reduce tasks to fetch.
//
// The file layout follows Spark's sort shuffle. A map task writes a single
// data file holding one Arrow IPC stream per reduce partition, one after the
// other; an empty reduce partition has a zero-length segment rather than an
// empty stream, so reading it costs no decoding. Next to it, an index file
// holds, little-endian, the n+1 int64 offsets of the n segments (the last
// being the data file's size), as Spark's index files do, followed by n
// int64 row counts, n uint32 CRC32-C checksums of the segments and a CRC32-C
// of the index itself. Files live under
//
//	<dir>/shuffle_<shuffleID>/map_<mapID>.data
//	<dir>/shuffle_<shuffleID>/map_<mapID>.index
//
// and their names are built from integers only, so no request can reach a
// path outside the manager's directory.
package shuffle
