package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/ember-go/ember/internal/saferead"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FlightServer serves the shuffle blocks of a Manager to other processes
// with Arrow Flight: a DoGet whose ticket names a block (see Ticket) streams
// its records. Register it on a gRPC server with
// flight.RegisterFlightServiceServer; authentication is the gRPC server's
// business (internal/auth's interceptors).
type FlightServer struct {
	flight.BaseFlightServer
	m      *Manager
	cached func(id string) (records iter.Seq2[arrow.Record, error], ok bool, err error)
}

// NewFlightServer returns a server for m's blocks.
func NewFlightServer(m *Manager) *FlightServer { return &FlightServer{m: m} }

// ServeCached makes the server also serve the cached blocks that get
// returns by id, a record at a time (the server releases each record it
// is given), for tickets made by CachedTicket.
func (s *FlightServer) ServeCached(get func(id string) (records iter.Seq2[arrow.Record, error], ok bool, err error)) *FlightServer {
	s.cached = get
	return s
}

// cachedPrefix starts the tickets of cached blocks.
const cachedPrefix = "block/"

// CachedTicket is the Flight ticket of a cached block.
func CachedTicket(id string) []byte { return []byte(cachedPrefix + id) }

// DoGet streams one block. A block that is not there answers NotFound, a
// damaged one DataLoss, a malformed ticket InvalidArgument.
func (s *FlightServer) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	if id, ok := strings.CutPrefix(string(t.GetTicket()), cachedPrefix); ok && s.cached != nil {
		recs, ok, err := s.cached(id)
		switch {
		case err != nil:
			return status.Error(codes.InvalidArgument, err.Error())
		case !ok:
			return status.Errorf(codes.NotFound, "no cached block %s", id)
		}
		return s.send(stream, recs)
	}
	ref, err := ParseTicket(t.GetTicket())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return s.send(stream, s.m.Fetch(stream.Context(), ref))
}

// send writes the records of one block, releasing each.
func (s *FlightServer) send(stream flight.FlightService_DoGetServer, records iter.Seq2[arrow.Record, error]) error {
	var w *flight.Writer
	for rec, err := range records {
		if err != nil {
			return statusOf(err)
		}
		if w == nil {
			w = flight.NewRecordWriter(stream, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(s.m.mem))
		}
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if w == nil {
		return nil // an empty block: no schema, no records
	}
	return w.Close()
}

// Ticket encodes the ids of a block as a Flight ticket.
func Ticket(ref BlockRef) []byte {
	return fmt.Appendf(nil, "shuffle/%d/%d/%d", ref.ShuffleID, ref.MapID, ref.ReduceID)
}

// ParseTicket decodes a ticket made by Ticket, accepting nothing else: ids
// are non-negative integers, so a ticket cannot name a path.
func ParseTicket(b []byte) (BlockRef, error) {
	parts := strings.Split(string(b), "/")
	if len(parts) != 4 || parts[0] != "shuffle" {
		return BlockRef{}, fmt.Errorf("shuffle: malformed ticket %q", b)
	}
	var ids [3]int
	for i, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strconv.Itoa(n) != p {
			return BlockRef{}, fmt.Errorf("shuffle: malformed ticket %q", b)
		}
		ids[i] = n
	}
	return BlockRef{ShuffleID: ids[0], MapID: ids[1], ReduceID: ids[2]}, nil
}

// statusOf turns a Manager's error into a gRPC status the client maps
// back.
func statusOf(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, ErrMissingBlock):
		code = codes.NotFound
	case errors.Is(err, ErrCorruptBlock):
		code = codes.DataLoss
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

// RemoteFetcher reads blocks from the executors that hold them, over Arrow
// Flight. It keeps one connection per executor. Safe for concurrent use.
type RemoteFetcher struct {
	opts []grpc.DialOption
	// relay, if set, is where every block is read from (NewRelayedFetcher).
	relay string

	mu      sync.Mutex
	clients map[string]flight.Client
	closed  bool
}

var _ Fetcher = (*RemoteFetcher)(nil)

// NewRemoteFetcher returns a fetcher that dials executors with opts
// (transport credentials, and auth.Credentials for the cluster secret).
func NewRemoteFetcher(opts ...grpc.DialOption) *RemoteFetcher {
	return &RemoteFetcher{opts: opts, clients: make(map[string]flight.Client)}
}

// Fetch yields the records of the block at ref.Location. An executor that
// does not have the block, or cannot be reached, gives an error wrapping
// ErrMissingBlock: either way the map output must be computed again. A
// damaged block gives ErrCorruptBlock. The caller releases each record.
func (f *RemoteFetcher) Fetch(ctx context.Context, ref BlockRef) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		if err := f.fetch(ctx, ref, yield); err != nil {
			yield(nil, fmt.Errorf("shuffle: fetch shuffle %d map %d reduce %d from %s: %w",
				ref.ShuffleID, ref.MapID, ref.ReduceID, ref.Location, err))
		}
	}
}

// FetchCached yields the records of a cached block of the executor at
// location; a block it does not hold gives an error wrapping
// ErrMissingBlock. The caller releases each record.
func (f *RemoteFetcher) FetchCached(ctx context.Context, location, id string) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		if err := f.get(ctx, location, CachedTicket(id), yield); err != nil {
			yield(nil, fmt.Errorf("shuffle: fetch cached block %s from %s: %w", id, location, err))
		}
	}
}

func (f *RemoteFetcher) fetch(ctx context.Context, ref BlockRef, yield func(arrow.Record, error) bool) error {
	return f.get(ctx, ref.Location, Ticket(ref), yield)
}

// get streams the records of a ticket from the executor at location.
func (f *RemoteFetcher) get(ctx context.Context, location string, ticket []byte, yield func(arrow.Record, error) bool) error {
	if location == "" {
		return errors.New("no executor address for a remote block")
	}
	if f.relay != "" {
		location, ticket = f.relay, ViaTicket(location, ticket)
	}
	client, err := f.client(location)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if the caller stops early
	stream, err := client.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err != nil {
		return errorOf(err)
	}
	rdr, err := flight.NewRecordReader(checkedStream{stream})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty block
		}
		return errorOf(err)
	}
	defer rdr.Release()
	for rdr.Next() {
		rec := rdr.Record()
		rec.Retain() // the reader reuses its record on Next
		if !yield(rec, nil) {
			return nil
		}
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return errorOf(err)
	}
	return nil
}

// checkedStream checks each message of a Flight stream before Arrow's
// reader trusts the lengths it declares.
type checkedStream struct {
	flight.FlightService_DoGetClient
}

func (s checkedStream) Recv() (*flight.FlightData, error) {
	fd, err := s.FlightService_DoGetClient.Recv()
	if err != nil || len(fd.DataHeader) == 0 {
		return fd, err
	}
	if err := saferead.CheckMessage(fd.DataHeader, int64(len(fd.DataBody))); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptBlock, err)
	}
	return fd, nil
}

// errorOf maps a Flight call's failure to the package's errors.
func errorOf(err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.Unavailable:
		return fmt.Errorf("%w: %w", ErrMissingBlock, err)
	case codes.DataLoss:
		return fmt.Errorf("%w: %w", ErrCorruptBlock, err)
	}
	return err
}

func (f *RemoteFetcher) client(addr string) (flight.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if c, ok := f.clients[addr]; ok {
		return c, nil
	}
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, f.opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	f.clients[addr] = c
	return c, nil
}

// Close closes every connection. Idempotent.
func (f *RemoteFetcher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs []error
	for addr, c := range f.clients {
		errs = append(errs, c.Close())
		delete(f.clients, addr)
	}
	return errors.Join(errs...)
}
