package executor

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/execenv"
	"github.com/ember-go/ember/internal/program"
	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/shuffle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An executor runs the pipelines of the program it was started from in its
// own process. A driver of another program uploads its binary (Upload),
// and the executor runs it as a worker child process for that application
// alone, forwarding the application's task stream to it. The executor, not
// the worker, serves the shuffle files the worker writes, so a worker that
// dies loses no finished map output.

// DefaultMaxBinarySize bounds an uploaded program.
const DefaultMaxBinarySize = 1 << 30

// DefaultUploadIdleTimeout is how long an upload may stay silent.
const DefaultUploadIdleTimeout = 30 * time.Second

// Environment of a worker child process, read by rdd.Init through
// WorkerConfigFromEnv.
const (
	envWorker         = "EMBER_WORKER"          // non-empty: run as a worker
	envWorkerShuffle  = "EMBER_WORKER_SHUFFLE"  // the executor's shuffle directory
	envWorkerLocation = "EMBER_WORKER_LOCATION" // the executor's RPC address
	envWorkerName     = "EMBER_WORKER_NAME"     // the executor's name
	envWorkerCores    = "EMBER_WORKER_CORES"
	envWorkerMemory   = "EMBER_WORKER_MEMORY"
	envWorkerRelay    = "EMBER_WORKER_RELAY" // where the worker reads remote blocks
)

// workerReady is the line a worker prints when it listens.
const workerReady = "ember worker listening on "

// programs stores uploaded binaries by SHA-256, each while an application
// runs it: a program is removed when the last application that ran it
// ends (one uploaded and never run, when the executor stops or when
// another application ends after its grace).
type programs struct {
	dir     string
	ownsDir bool
	max     int64
	idle    time.Duration // the longest an upload may go without a chunk
	uploads chan struct{} // bounds concurrent uploads

	mu sync.Mutex
	// users counts the applications running each program, by hash.
	users map[string]int
	// installed holds when each program not yet run was stored: it is
	// kept for uploadGrace, for the application that uploaded it.
	installed map[string]time.Time
}

// uploadGrace is how long a program uploaded and not yet run is kept
// when another application's end would remove it: a driver uploads, then
// opens its application at once.
const uploadGrace = time.Minute

func newPrograms(dir string, max int64, idle time.Duration) (*programs, error) {
	p := &programs{dir: dir, max: max, idle: idle, uploads: make(chan struct{}, 2),
		users: make(map[string]int), installed: make(map[string]time.Time)}
	if p.max <= 0 {
		p.max = DefaultMaxBinarySize
	}
	if p.idle <= 0 {
		p.idle = DefaultUploadIdleTimeout
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "ember-programs-*")
		if err != nil {
			return nil, err
		}
		p.dir, p.ownsDir = d, true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	} else if err := p.removeLeftovers(); err != nil {
		return nil, err
	}
	return p, nil
}

// removeLeftovers removes the programs and partial uploads that a work
// directory kept from an executor that did not stop cleanly: no
// application of this one runs them.
func (p *programs) removeLeftovers() error {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if _, err := p.path(e.Name()); err == nil || strings.HasPrefix(e.Name(), ".upload-") {
			errs = append(errs, os.Remove(filepath.Join(p.dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

func (p *programs) close() error {
	if p.ownsDir {
		return os.RemoveAll(p.dir)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for sum := range p.installed {
		errs = append(errs, p.removeLocked(sum))
	}
	for sum := range p.users {
		errs = append(errs, p.removeLocked(sum))
	}
	return errors.Join(errs...)
}

// stored notes that the program sum was just installed (or uploaded
// again while it was kept): until an application uses it, or for
// uploadGrace, it is kept even if the applications that run it now all
// end, for the driver that uploaded it.
func (p *programs) stored(sum string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.installed[sum] = time.Now()
}

// use notes that an application runs the program sum, until done is
// called: then, if no other application runs it and no upload of it
// within uploadGrace waits for its application, it is removed, with any
// other program whose grace has passed. use comes before the program is looked for, so that no
// other application's end removes it in between.
func (p *programs) use(sum string) (done func()) {
	p.mu.Lock()
	p.users[sum]++
	delete(p.installed, sum) // the upload waited for this use
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.users[sum]--; p.users[sum] <= 0 {
			delete(p.users, sum)
			if !p.inGraceLocked(sum) {
				p.removeLocked(sum)
			}
		}
		for other := range p.installed {
			if p.users[other] == 0 && !p.inGraceLocked(other) {
				p.removeLocked(other)
			}
		}
	}
}

// inGraceLocked reports whether the program sum was uploaded within
// uploadGrace.
func (p *programs) inGraceLocked(sum string) bool {
	at, ok := p.installed[sum]
	return ok && time.Since(at) <= uploadGrace
}

func (p *programs) removeLocked(sum string) error {
	delete(p.installed, sum)
	path, err := p.path(sum)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// path returns where the program with the given hash is kept; an invalid
// hash cannot name a path outside the store.
func (p *programs) path(sum string) (string, error) {
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return "", fmt.Errorf("invalid program hash %q: want 64 lowercase hex digits", sum)
	}
	return filepath.Join(p.dir, sum), nil
}

// checkPlatform refuses a program built for another system.
func checkPlatform(h *rpc.BinaryHeader) error {
	if h.Goos != runtime.GOOS || h.Goarch != runtime.GOARCH {
		return fmt.Errorf("the driver's program is built for %s/%s, this executor runs %s/%s: build the driver with GOOS=%s GOARCH=%s",
			h.Goos, h.Goarch, runtime.GOOS, runtime.GOARCH, runtime.GOOS, runtime.GOARCH)
	}
	return nil
}

// checkExecutable checks that f holds an executable of this executor's
// own platform, by its header, whatever platform the upload claims: an
// ELF file for Linux, Mach-O for macOS, of this machine's architecture.
func checkExecutable(f *os.File) error {
	switch runtime.GOOS {
	case "linux":
		e, err := elf.NewFile(f)
		if err != nil {
			return fmt.Errorf("not an ELF file: %w", err)
		}
		if want, ok := elfMachines[runtime.GOARCH]; !ok || e.Machine != want {
			return fmt.Errorf("an ELF file for %v, this executor runs %s", e.Machine, runtime.GOARCH)
		}
		if e.Type != elf.ET_EXEC && e.Type != elf.ET_DYN {
			return fmt.Errorf("an ELF file of type %v, not an executable", e.Type)
		}
		return nil
	case "darwin":
		m, err := macho.NewFile(f)
		if err != nil {
			return fmt.Errorf("not a Mach-O file: %w", err)
		}
		if want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[runtime.GOARCH]; m.Cpu != want || m.Type != macho.TypeExec {
			return fmt.Errorf("a Mach-O file for %v of type %v, this executor runs %s executables", m.Cpu, m.Type, runtime.GOARCH)
		}
		return nil
	default:
		return fmt.Errorf("executors on %s cannot check an executable's header, so they take no uploads", runtime.GOOS)
	}
}

// elfMachines is the ELF machine of each Go architecture an executor may
// run on.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH,
}

// Upload receives a driver's program, checks its platform, size and hash,
// and keeps it under its hash. An upload that sends nothing for the
// store's idle timeout is cut off, so that silent uploads cannot hold the
// slots forever: the chunks are received on a goroutine of their own,
// which the handler stops waiting for.
func (s *taskService) Upload(stream rpc.Executor_UploadServer) error {
	p, err := s.d.uploadStore()
	if err != nil {
		return err
	}
	if err := p.acquire(stream.Context()); err != nil {
		return err
	}
	progress, done := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		defer p.release()
		defer auth.Recover("an upload", &err)
		err = s.receiveProgram(p, progressStream{stream, progress})
	}()
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			return stream.SendAndClose(&rpc.UploadReply{})
		case <-progress:
			idle.Reset(p.idle)
		case <-idle.C:
			return status.Errorf(codes.DeadlineExceeded, "executor %s: the upload sent nothing for %v", s.d.Name(), p.idle)
		}
	}
}

// receiveProgram receives an upload's header and chunks into the store.
func (s *taskService) receiveProgram(p *programs, stream rpc.Executor_UploadServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	final, err := p.checkHeader(h)
	if err != nil {
		return err
	}
	defer p.stored(h.Sha256)
	if _, err := os.Stat(final); err == nil {
		return nil // uploaded before
	}
	if err := p.receive(stream, first, final); err != nil {
		return err
	}
	s.d.cfg.Logger.Info("program uploaded", "sha256", h.Sha256, "bytes", h.Size)
	return nil
}

// progressStream signals on progress each time a chunk arrives.
type progressStream struct {
	rpc.Executor_UploadServer
	progress chan<- struct{}
}

func (s progressStream) Recv() (*rpc.BinaryChunk, error) {
	c, err := s.Executor_UploadServer.Recv()
	select {
	case s.progress <- struct{}{}:
	default: // a signal is already pending
	}
	return c, err
}

// uploadStore returns where uploaded programs are kept, or the status
// error that says why this daemon takes none.
func (d *Daemon) uploadStore() (*programs, error) {
	if d.programs == nil {
		return nil, status.Error(codes.FailedPrecondition, "a worker takes no uploads")
	}
	if len(d.cfg.Secret) == 0 {
		// Without a secret nobody is authenticated: running what they
		// send would run anyone's code.
		return nil, status.Errorf(codes.PermissionDenied, "executor %s has no cluster secret, so it runs no uploaded programs: start it with --secret-file or %s", d.Name(), auth.EnvSecret)
	}
	return d.programs, nil
}

// acquire waits until fewer uploads than the store allows are under way,
// or for ctx to end.
func (p *programs) acquire(ctx context.Context) error {
	select {
	case p.uploads <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release ends an upload that acquire let begin.
func (p *programs) release() { <-p.uploads }

// checkHeader returns where the program that h describes is to be kept,
// or the status error that refuses it before any of it is stored.
func (p *programs) checkHeader(h *rpc.BinaryHeader) (string, error) {
	if h == nil {
		return "", status.Error(codes.InvalidArgument, "the first chunk of an upload must carry its header")
	}
	if err := checkPlatform(h); err != nil {
		return "", status.Error(codes.FailedPrecondition, err.Error())
	}
	if h.Size <= 0 || h.Size > p.max {
		return "", status.Errorf(codes.ResourceExhausted, "a program of %d bytes: this executor takes up to %d", h.Size, p.max)
	}
	final, err := p.path(h.Sha256)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return final, nil
}

// receive stores the upload that begins with first at final. It writes a
// temporary file and renames it only once its size and hash match the
// header, so that no program is ever found under a hash it does not
// have; the temporary file is removed whatever happens.
func (p *programs) receive(stream rpc.Executor_UploadServer, first *rpc.BinaryChunk, final string) error {
	tmp, err := os.CreateTemp(p.dir, ".upload-*")
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := receiveVerified(tmp, stream, first); err != nil {
		return err
	}
	if err := checkExecutable(tmp); err != nil {
		return status.Errorf(codes.FailedPrecondition, "the uploaded program is not an executable for this executor: %v", err)
	}
	return install(tmp, final)
}

// receiveVerified writes the upload that begins with first to w, and
// checks that it has the size and hash its header says.
func receiveVerified(w io.Writer, stream rpc.Executor_UploadServer, first *rpc.BinaryChunk) error {
	h := first.GetHeader()
	hash := sha256.New()
	size, err := copyChunks(io.MultiWriter(w, hash), stream, first, h.Size)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(hash.Sum(nil)); size != h.Size || got != h.Sha256 {
		return status.Errorf(codes.InvalidArgument, "the upload (%d bytes, SHA-256 %s) does not match its header (%d bytes, %s)", size, got, h.Size, h.Sha256)
	}
	return nil
}

// copyChunks writes the data of first and of the chunks after it on the
// stream to w, and returns how many bytes it wrote. It stops at limit
// bytes, the size the header promised, rather than fill the disk.
func copyChunks(w io.Writer, stream rpc.Executor_UploadServer, first *rpc.BinaryChunk, limit int64) (int64, error) {
	size := int64(0)
	for chunk := first; ; {
		size += int64(len(chunk.Data))
		if size > limit {
			return size, status.Errorf(codes.InvalidArgument, "the upload is longer than the %d bytes its header says", limit)
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return size, status.Error(codes.Internal, err.Error())
		}
		next, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return size, nil
		}
		if err != nil {
			return size, err
		}
		chunk = next
	}
}

// install makes the received program tmp executable and moves it to
// final.
func install(tmp *os.File, final string) error {
	if err := tmp.Chmod(0o700); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := tmp.Close(); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return nil
}

// serveByWorker serves an application of another program: it starts the
// program as a worker and forwards the task stream both ways. Shuffles the
// application writes are recorded, to be removed when it ends.
func (s *taskService) serveByWorker(stream rpc.Executor_ConnectServer, hello *rpc.Hello, app *application) error {
	d := s.d
	path, err := d.workerProgram(hello.Binary)
	if err != nil {
		return err
	}
	defer d.programs.use(hello.Binary.Sha256)()
	if _, err := os.Stat(path); err != nil {
		return status.Errorf(codes.NotFound, "executor %s does not have program %s: upload it", d.Name(), hello.Binary.Sha256)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w, err := d.startWorker(ctx, path, app.id)
	if err != nil {
		return status.Errorf(codes.Internal, "executor %s: %v", d.Name(), err)
	}
	defer w.stop(d.cfg.Logger)
	child, err := d.openWorkerStream(ctx, w, hello)
	if err != nil {
		return err
	}
	d.cfg.Logger.Info("application served by a worker", "app", app.id, "program", hello.Binary.Sha256[:16], "pid", w.cmd.Process.Pid)
	defer app.cleanUp()
	err = relay(stream, child, app, cancel)
	if status, crashed := w.crashed(); err != nil && crashed {
		// The driver counts this loss against the tasks that ran.
		d.cfg.Logger.Warn("worker exited", "app", app.id, "pid", w.cmd.Process.Pid, "status", status)
		return stream.Send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_WorkerExited{WorkerExited: &rpc.WorkerExited{Status: status}}})
	}
	return err
}

// workerProgram returns where the uploaded program that h describes is
// kept, or the status error that says why this executor cannot run it.
// Whether it is there is for the caller to see, once it uses it.
func (d *Daemon) workerProgram(h *rpc.BinaryHeader) (string, error) {
	if len(d.cfg.Secret) == 0 {
		return "", status.Errorf(codes.PermissionDenied, "executor %s has no cluster secret, so it runs no programs but its own: start it with --secret-file or EMBER_SECRET", d.Name())
	}
	if h == nil || d.programs == nil {
		return "", status.Errorf(codes.FailedPrecondition,
			"executor %s runs another program: its registered pipelines differ from the driver's; start executors from the same build as the driver", d.Name())
	}
	if err := checkPlatform(h); err != nil {
		return "", status.Error(codes.FailedPrecondition, err.Error())
	}
	path, err := d.programs.path(h.Sha256)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return path, nil
}

// openWorkerStream opens a task stream to the worker w and passes on to
// it the driver's hello, which opens the application there.
func (d *Daemon) openWorkerStream(ctx context.Context, w *workerProcess, hello *rpc.Hello) (rpc.Executor_ConnectClient, error) {
	child, err := rpc.NewExecutorClient(w.conn).Connect(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "executor %s: worker: %v", d.Name(), err)
	}
	if err := child.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: hello}}); err != nil {
		return nil, err
	}
	return child, nil
}

// relay forwards messages both ways between the driver's stream and the
// worker's, noting in app what the driver's say about its files, until
// one side ends. Either way the application is over: only a failure of
// the worker's side other than its end is an error.
func relay(stream rpc.Executor_ConnectServer, child rpc.Executor_ConnectClient, app *application, cancel context.CancelFunc) error {
	up := make(chan error, 1)
	go func() {
		var err error
		defer func() { up <- err }()
		defer auth.Recover("forwarding to the driver of application "+app.id, &err)
		err = forwardToDriver(stream, child, app)
	}()
	down := make(chan error, 1)
	go func() {
		var err error
		defer func() { down <- err }()
		defer auth.Recover("forwarding to the worker of application "+app.id, &err)
		err = forwardToWorker(child, stream, app)
	}()
	select {
	case err := <-up:
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return err
	case err := <-down:
		// Wait for the worker's side too, so that nothing is sent on
		// the driver's stream once the handler has returned.
		cancel()
		<-up
		if status.Code(err) == codes.InvalidArgument || status.Code(err) == codes.Internal {
			return err // a malformed message, or a panic forwarding it
		}
		return nil
	}
}

// forwardToDriver sends the driver what the worker says, until either
// stream fails, counting in the executor's metrics the tasks that end.
func forwardToDriver(stream rpc.Executor_ConnectServer, child rpc.Executor_ConnectClient, app *application) error {
	for {
		m, err := child.Recv()
		if err != nil {
			return err
		}
		if st := m.GetStatus(); st != nil {
			app.relayedEnded(st)
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

// forwardToWorker sends the worker what the driver says, until either
// stream fails. When the driver's ends, the worker's is closed for
// sending, so the worker sees the application end.
func forwardToWorker(child rpc.Executor_ConnectClient, stream rpc.Executor_ConnectServer, app *application) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			child.CloseSend()
			return err
		}
		if ok, err := app.admit(m); !ok {
			if err != nil {
				child.CloseSend()
				return err
			}
			continue
		}
		app.note(m)
		if err := child.Send(m); err != nil {
			return err
		}
	}
}

// note records what an application's message says about its files.
func (a *application) note(m *rpc.DriverMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch b := m.Body.(type) {
	case *rpc.DriverMessage_Launch:
		if b.Launch.Kind == rpc.LaunchTask_MAP {
			a.shuffles[int(b.Launch.ShuffleId)] = true
		}
		a.relayed[b.Launch.TaskId] = time.Now()
	}
}

// relayedEnded counts in the executor's metrics a task that the
// application's worker ran, as the executor counts its own.
func (a *application) relayedEnded(st *rpc.TaskStatus) {
	a.mu.Lock()
	start, ok := a.relayed[st.TaskId]
	delete(a.relayed, st.TaskId)
	a.mu.Unlock()
	if ok && a.d.metrics != nil {
		a.d.metrics.taskEnded(st.State == rpc.TaskStatus_FAILED, time.Since(start), wire.MetricsOf(st.Metrics))
	}
}

// workerProcess is a running worker child.
type workerProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer
	// key is the worker's application key (auth.AppKey): what it holds
	// instead of the cluster secret, and what the executor calls it with.
	key  []byte
	conn *grpc.ClientConn
	// relay serves the worker's reads of remote blocks (see
	// shuffle.RelayServer), with the executor's credentials.
	relay  *workerRelay
	exited chan struct{}
}

// startWorker runs the program at path as a worker of this executor and
// connects to it.
func (d *Daemon) startWorker(ctx context.Context, path, app string) (*workerProcess, error) {
	key, err := auth.AppKey(d.cfg.Secret, app, d.Name())
	if err != nil {
		return nil, err
	}
	relay, err := d.startRelay(key)
	if err != nil {
		return nil, err
	}
	w, stdout, err := d.spawnWorker(path, app, key, relay.addr)
	if err != nil {
		relay.stop()
		return nil, err
	}
	w.relay = relay
	listening := make(chan string, 1)
	go w.passOutput(stdout, listening)
	if err := w.connect(ctx, listening); err != nil {
		w.stop(d.cfg.Logger)
		return nil, err
	}
	return w, nil
}

// workerRelay serves one worker's reads of remote blocks.
type workerRelay struct {
	addr string // where it listens, on loopback
	srv  *grpc.Server
	// fetcher is the relay's own, with the executor's credentials: the
	// connections it opens for the worker close with the worker.
	fetcher *shuffle.RemoteFetcher
}

// startRelay serves, on loopback, the reads of remote blocks of the worker
// that holds key: only its calls are taken, and only DoGet.
func (d *Daemon) startRelay(key []byte) (*workerRelay, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for a worker's relay: %w", err)
	}
	r := &workerRelay{addr: lis.Addr().String(), fetcher: d.newFetcher()}
	r.srv = grpc.NewServer(auth.ServerOptions(auth.ServerConfig{Secret: key, Names: []string{r.addr}})...)
	flight.RegisterFlightServiceServer(r.srv, shuffle.NewRelayServer(r.fetcher))
	go r.srv.Serve(lis)
	return r, nil
}

// stop stops the relay and closes the connections it opened.
func (r *workerRelay) stop() {
	r.srv.Stop()
	r.fetcher.Close()
}

// spawnWorker starts the program at path as a worker for app and gives it
// its key and the address of its relay. It returns the worker's standard
// output, which says where it listens.
func (d *Daemon) spawnWorker(path, app string, key []byte, relay string) (*workerProcess, io.Reader, error) {
	cmd := d.workerCommand(path, app, relay)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start worker: %w", err)
	}
	// The key goes through the pipe, not the environment, which other
	// processes of the same user may read; the pipe stays open for the
	// worker's life. The worker never has the cluster secret.
	if err := execenv.WriteSecretLine(stdin, key); err != nil {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, fmt.Errorf("start worker: %w", err)
	}
	return &workerProcess{cmd: cmd, stdin: stdin, key: key, exited: make(chan struct{})}, stdout, nil
}

// workerCommand is the command that runs the program at path as a worker
// for app, with the environment WorkerConfigFromEnv reads.
func (d *Daemon) workerCommand(path, app, relay string) *exec.Cmd {
	cmd := exec.Command(path)
	cmd.Env = execenv.ChildEnv(
		envWorker+"="+app,
		envWorkerShuffle+"="+d.shuffle.Dir(),
		envWorkerLocation+"="+d.location,
		envWorkerName+"="+d.Name(),
		envWorkerCores+"="+strconv.Itoa(d.cfg.Cores),
		envWorkerMemory+"="+strconv.FormatInt(d.cfg.Memory, 10),
		envWorkerRelay+"="+relay,
	)
	cmd.Stderr = os.Stderr
	return cmd
}

// passOutput copies the worker's standard output to stderr, but for the
// line that says where it listens, whose address it sends on listening.
// When the output ends, it waits for the worker and closes w.exited.
func (w *workerProcess) passOutput(stdout io.Reader, listening chan<- string) {
	rd := bufio.NewReader(stdout)
	awaitReady(rd, listening)
	// The program's own output, after: passed on, never left to fill
	// the pipe and stall the worker.
	io.Copy(os.Stderr, rd)
	w.cmd.Wait()
	close(w.exited)
}

// awaitReady reads rd up to the worker's ready line, copying the lines
// before it to stderr, and sends the address the line gives on listening.
// It returns at the end of rd if no such line comes.
func awaitReady(rd *bufio.Reader, listening chan<- string) {
	for {
		line, err := rd.ReadString('\n')
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), workerReady); ok {
			listening <- a
			return
		}
		if line != "" {
			os.Stderr.WriteString(line)
		}
		if err != nil {
			return
		}
	}
}

// connect waits until the worker listens, at the address that comes on
// listening, and dials it with its key. It gives up if the worker exits
// first, does not listen within 30 s, or ctx ends.
func (w *workerProcess) connect(ctx context.Context, listening <-chan string) error {
	var at string
	select {
	case at = <-listening:
	case <-w.exited:
		return fmt.Errorf("the worker exited before it listened (%v); does the program call rdd.Init() first in main?", w.cmd.ProcessState)
	case <-time.After(30 * time.Second):
		return errors.New("the worker did not listen within 30 s")
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	w.conn, err = grpc.DialContext(ctx, at, auth.DialOptions(w.key, nil)...)
	return err
}

// crashed reports whether the worker exited by itself, with a non-zero
// status (a crash or os.Exit, not a signal from outside), and how. It
// waits a moment for the exit, as the worker's stream may break first.
func (w *workerProcess) crashed() (string, bool) {
	select {
	case <-w.exited:
	case <-time.After(time.Second):
		return "", false
	}
	ps := w.cmd.ProcessState
	return ps.String(), program.ExitedByItself(ps)
}

// stop ends the worker: its input closes, which tells it to exit; it is
// killed if it does not within 5 s.
func (w *workerProcess) stop(log *slog.Logger) {
	if w.conn != nil {
		w.conn.Close()
	}
	if w.relay != nil {
		w.relay.stop()
	}
	w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
		log.Warn("worker did not exit; killing it", "pid", w.cmd.Process.Pid)
		w.cmd.Process.Kill()
		<-w.exited
	}
}

// WorkerConfig is what a worker child process learns from its executor.
type WorkerConfig struct {
	App        string
	Name       string // the executor's name
	ShuffleDir string // the executor's shuffle directory
	Location   string // the executor's RPC address
	Cores      int
	Memory     int64
	// Key is the worker's application key (auth.AppKey), which its
	// executor calls it with and its relay takes: never the secret.
	Key []byte
	// Relay is where the worker reads remote blocks: its executor, which
	// fetches them with its own credentials (shuffle.RelayServer).
	Relay string
}

// WorkerConfigFromEnv returns the configuration an executor gave the
// current process, and false if the process is no worker. It reads the
// key from the first line of stdin, where the executor writes it; stdin
// then stays open until the executor wants the worker gone.
func WorkerConfigFromEnv() (WorkerConfig, bool, error) {
	app := os.Getenv(envWorker)
	if app == "" {
		return WorkerConfig{}, false, nil
	}
	c := WorkerConfig{App: app, Name: os.Getenv(envWorkerName), ShuffleDir: os.Getenv(envWorkerShuffle),
		Location: os.Getenv(envWorkerLocation), Relay: os.Getenv(envWorkerRelay)}
	key, err := execenv.ReadSecretLine(os.Stdin)
	if err != nil {
		return c, true, fmt.Errorf("executor: worker: %w", err)
	}
	c.Key = key
	var err1, err2 error
	c.Cores, err1 = strconv.Atoi(os.Getenv(envWorkerCores))
	c.Memory, err2 = strconv.ParseInt(os.Getenv(envWorkerMemory), 10, 64)
	if err := errors.Join(err1, err2); err != nil || c.ShuffleDir == "" || c.Location == "" || c.Relay == "" {
		return c, true, fmt.Errorf("executor: malformed worker environment: %v", err)
	}
	return c, true, nil
}

// StartWorker serves the tasks of one application on loopback, as a child
// of the executor that received them, with the program's registered
// pipelines. It writes shuffle files into the executor's directory, which
// the executor serves. It prints the
// address it listens on to stdout, for the executor.
func StartWorker(ctx context.Context, cfg WorkerConfig, logger *slog.Logger) (*Daemon, error) {
	if logger == nil {
		logger = slog.Default()
	}
	// Its executor dials it on loopback, with its key; it reads the
	// blocks of other executors through its executor's relay.
	dcfg := DaemonConfig{Name: cfg.Name, RPCAddr: "127.0.0.1:0", Cores: max(cfg.Cores, 1), Memory: cfg.Memory,
		Secret: cfg.Key, Logger: logger}
	d := &Daemon{
		cfg:    dcfg,
		worker: true, runner: replay.Registered(), served: make(chan error, 1), slots: make(chan struct{}, max(cfg.Cores, 1)),
	}
	d.queue = newQueue(d.cfg)
	lis, err := d.serve(shuffle.Config{Dir: cfg.ShuffleDir, Shared: true})
	if err != nil {
		d.Close()
		return nil, err
	}
	d.fetcher.Close()
	d.fetcher = shuffle.NewRelayedFetcher(cfg.Relay, auth.DialOptions(cfg.Key, nil)...)
	d.location = cfg.Location
	d.env = d.taskEnv()
	rpc.RegisterExecutorServer(d.server, &taskService{d: d})
	go func() { d.served <- d.server.Serve(lis) }()
	fmt.Println(workerReady + d.rpcAddr)
	return d, nil
}
