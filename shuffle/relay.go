package shuffle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A process that does not hold the cluster's credentials (a worker, which
// runs a program its executor was given) reads remote blocks through a
// relay: its executor, which fetches them with its own credentials and
// passes their Flight messages on as they are. The worker's ticket names
// the block's executor and the block: ViaTicket.

// viaPrefix starts the tickets of a relay.
const viaPrefix = "via/"

// ViaTicket is the ticket that asks a relay for ticket from the executor
// at location (host:port).
func ViaTicket(location string, ticket []byte) []byte {
	return append([]byte(viaPrefix+location+"|"), ticket...)
}

// ParseViaTicket decodes a ticket made by ViaTicket. The location must be
// a host and a port, so that a relay dials nothing else.
func ParseViaTicket(b []byte) (location string, ticket []byte, err error) {
	rest, ok := bytes.CutPrefix(b, []byte(viaPrefix))
	if !ok {
		return "", nil, fmt.Errorf("shuffle: a relay takes tickets of the form via/HOST:PORT|TICKET, not %q", b)
	}
	loc, ticket, ok := bytes.Cut(rest, []byte("|"))
	if !ok {
		return "", nil, fmt.Errorf("shuffle: malformed relay ticket %q", b)
	}
	host, port, err := net.SplitHostPort(string(loc))
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n <= 0 || n > 65535 || strconv.Itoa(n) != port {
		return "", nil, fmt.Errorf("shuffle: relay ticket %q: not a host:port", b)
	}
	return string(loc), ticket, nil
}

// NewRelayedFetcher returns a fetcher that reads every block through the
// relay at addr (a RelayServer), dialled with opts.
func NewRelayedFetcher(addr string, opts ...grpc.DialOption) *RemoteFetcher {
	f := NewRemoteFetcher(opts...)
	f.relay = addr
	return f
}

// Relay streams the Flight messages of ticket from the executor at
// location to send, as they come, without decoding them. The remote's
// status is returned as it came, so that the relay's caller sees a
// missing or damaged block as such.
func (f *RemoteFetcher) Relay(ctx context.Context, location string, ticket []byte, send func(*flight.FlightData) error) error {
	client, err := f.client(location)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err != nil {
		return err
	}
	for {
		fd, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(fd); err != nil {
			return err
		}
	}
}

// RelayServer is the Flight server of a relay: DoGet with a ViaTicket
// streams the block from the executor the ticket names, fetched by its
// fetcher. Authentication is the gRPC server's business: a relay serves
// one worker, with that worker's key.
type RelayServer struct {
	flight.BaseFlightServer
	f *RemoteFetcher
}

// NewRelayServer returns a relay that fetches with f.
func NewRelayServer(f *RemoteFetcher) *RelayServer { return &RelayServer{f: f} }

// DoGet relays one block.
func (s *RelayServer) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	location, ticket, err := ParseViaTicket(t.GetTicket())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return s.f.Relay(stream.Context(), location, ticket, stream.Send)
}
