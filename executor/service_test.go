package executor

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/auth/authtest"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/task"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// mapRunner runs every task as a map task writing one row per reduce
// partition, or fails it as its job's argument says.
type mapRunner struct{ fingerprint string }

func (r mapRunner) Fingerprint() string { return r.fingerprint }

func (r mapRunner) RunTask(tc *task.Context, def *rpc.DefineJob) *rpc.TaskStatus {
	if string(def.Argument) == "panic" {
		panic("the task panicked")
	}
	t := tc.Task()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := tc.Env.Shuffle.NewWriter(t.ShuffleID, t.Partition, t.Attempt, 2, schema)
	if err != nil {
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: &rpc.TaskError{Message: err.Error()}}
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.Append(int64(t.Partition))
	rec := array.NewRecord(schema, []arrow.Array{b.NewArray()}, 1)
	defer rec.Release()
	for red := range 2 {
		if err := w.Write(red, rec); err != nil {
			return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: &rpc.TaskError{Message: err.Error()}}
		}
	}
	ms, err := w.Commit()
	for _, size := range ms.Sizes {
		tc.AddShuffleWrite(1, size)
	}
	if err != nil {
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: &rpc.TaskError{Message: err.Error()}}
	}
	return &rpc.TaskStatus{MapOutput: &rpc.MapOutput{MapId: int32(ms.MapID), Sizes: ms.Sizes, Rows: ms.Rows}}
}

func startServiceDaemon(t *testing.T) *Daemon {
	t.Helper()
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "exec", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 2, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		runner: mapRunner{fingerprint: "fp"}, WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// clusterTLS is the client TLS that testSecret derives, which the test
// daemons serve.
func clusterTLS(t *testing.T) *tls.Config {
	t.Helper()
	_, tc, err := auth.ClusterTLS(testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// dialOptions dial a test daemon over its TLS, with the tokens of secret.
func dialOptions(t *testing.T, secret []byte) []grpc.DialOption {
	return auth.DialOptions(secret, clusterTLS(t))
}

// connect opens a task stream to d and says hello.
func connect(t *testing.T, ctx context.Context, d *Daemon, secret []byte, fingerprint string) (rpc.Executor_ConnectClient, *grpc.ClientConn) {
	t.Helper()
	opts := dialOptions(t, secret)
	if len(d.cfg.Secret) == 0 {
		opts = auth.DialOptions(secret, nil) // a daemon without a secret serves plain TCP
	}
	conn, err := grpc.DialContext(ctx, d.RPCAddr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := rpc.NewExecutorClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: &rpc.Hello{AppId: "app", Fingerprint: fingerprint}}})
	return stream, conn
}

func TestTaskStreamRefusesStrangers(t *testing.T) {
	d := startServiceDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := connect(t, ctx, d, nil, "fp")
	if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a driver without the secret: %v, want Unauthenticated", err)
	}
	stream, _ = connect(t, ctx, d, []byte("another secret, quite long"), "fp")
	if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a driver with another secret: %v, want Unauthenticated", err)
	}
	stream, _ = connect(t, ctx, d, testSecret, "other")
	if _, err := stream.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a driver of another program: %v, want FailedPrecondition", err)
	}
}

func TestTaskStreamRunsTasksAndCleansUp(t *testing.T) {
	d := startServiceDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := connect(t, ctx, d, testSecret, "fp")
	m, err := stream.Recv()
	if err != nil || m.GetWelcome().GetExecutor() != "exec" || m.GetWelcome().GetCores() != 2 {
		t.Fatalf("welcome: %v, %v", m, err)
	}
	send := func(m *rpc.DriverMessage) {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 1, Pipeline: "p"}}})
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 2, Pipeline: "p", Argument: []byte("panic")}}})
	for i := range 3 {
		send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{
			TaskId: uint64(i + 1), JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 7, Partition: int32(i), Attempt: 1}}})
	}
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{TaskId: 4, JobKey: 2, Kind: rpc.LaunchTask_MAP, ShuffleId: 7, Partition: 3, Attempt: 1}}})
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{TaskId: 5, JobKey: 99, Partition: 0, Attempt: 1}}})
	statuses := map[uint64]*rpc.TaskStatus{}
	for len(statuses) < 5 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if st := m.GetStatus(); st != nil {
			statuses[st.TaskId] = st
		}
	}
	for id := uint64(1); id <= 3; id++ {
		st := statuses[id]
		if st.State != rpc.TaskStatus_FINISHED || st.MapOutput.GetLocation() != d.RPCAddr() || st.MapOutput.Rows[1] != 1 {
			t.Errorf("map task %d: %v", id, st)
		}
	}
	if st := statuses[4]; st.State != rpc.TaskStatus_FAILED || st.Error.Kind != rpc.TaskError_PANIC || st.Error.Message != "the task panicked" || st.Error.PanicStack == "" {
		t.Errorf("a panicking task: %v", st)
	}
	if st := statuses[5]; st.State != rpc.TaskStatus_FAILED || st.Error.Message == "" {
		t.Errorf("a task of an undefined job: %v", st)
	}
	// A job that ended: its definition is dropped, and a task of it that
	// came without a new definition is refused.
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_JobEnded{JobEnded: &rpc.JobEnded{JobKey: 1}}})
	send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{
		TaskId: 6, JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 7, Partition: 0, Attempt: 2}}})
	for statuses[6] == nil {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if st := m.GetStatus(); st != nil {
			statuses[st.TaskId] = st
		}
	}
	if st := statuses[6]; st.State != rpc.TaskStatus_FAILED || !strings.Contains(st.Error.GetMessage(), "did not define") {
		t.Errorf("a task of a job that ended: %v; want it refused, its definition dropped", st)
	}
	shuffleDir := filepath.Join(d.cfg.WorkDir, "shuffle")
	if entries, _ := os.ReadDir(shuffleDir); len(entries) == 0 {
		t.Fatalf("no shuffle files in %s after the map tasks", shuffleDir)
	}

	// The driver goes away: the executor removes the application's files.
	stream.CloseSend()
	var entries []os.DirEntry
	if !await.Until(30*time.Second, func() bool {
		var err error
		entries, err = os.ReadDir(shuffleDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return len(entries) == 0
	}) {
		t.Fatalf("shuffle files left 30 s after the driver disconnected: %v", entries)
	}
}

// upload sends a program with the given header to d.
func upload(ctx context.Context, conn *grpc.ClientConn, h *rpc.BinaryHeader, data []byte) error {
	up, err := rpc.NewExecutorClient(conn).Upload(ctx)
	if err != nil {
		return err
	}
	if err := up.Send(&rpc.BinaryChunk{Header: h, Data: data}); err != nil {
		_, err = up.CloseAndRecv()
		return err
	}
	_, err = up.CloseAndRecv()
	return err
}

func TestUploadChecks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the hostile uploads are ELF files")
	}
	d := startServiceDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A real executable of this platform that exits at once: true(1).
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to upload:", err)
	}
	program, err := os.ReadFile(trueBin)
	if err != nil {
		t.Fatal(err)
	}
	good := headerOf(program)
	script := []byte("#!/bin/sh\ncat > /tmp/stolen-secret\n")
	other := slices.Clone(program)
	other[18] ^= 0xff // e_machine: another architecture
	with := func(f func(h *rpc.BinaryHeader)) *rpc.BinaryHeader {
		h := proto.Clone(good).(*rpc.BinaryHeader)
		f(h)
		return h
	}
	_, conn := connect(t, ctx, d, testSecret, "fp")
	_, stranger := connect(t, ctx, d, nil, "fp")
	for name, tc := range map[string]struct {
		conn   *grpc.ClientConn
		header *rpc.BinaryHeader
		data   []byte
		code   codes.Code
		want   string
	}{
		"no secret":      {stranger, good, program, codes.Unauthenticated, ""},
		"other platform": {conn, with(func(h *rpc.BinaryHeader) { h.Goarch = "mips" }), program, codes.FailedPrecondition, "GOARCH=" + runtime.GOARCH},
		"hash mismatch":  {conn, with(func(h *rpc.BinaryHeader) { h.Sha256 = strings.Repeat("ab", 32) }), program, codes.InvalidArgument, "does not match"},
		"path in hash":   {conn, with(func(h *rpc.BinaryHeader) { h.Sha256 = "../../etc/passwd" }), program, codes.InvalidArgument, "hex digits"},
		"too long":       {conn, with(func(h *rpc.BinaryHeader) { h.Size = 4 }), program, codes.InvalidArgument, "longer"},
		"too big":        {conn, with(func(h *rpc.BinaryHeader) { h.Size = 1 << 40 }), program, codes.ResourceExhausted, "up to"},
		// The platform is claimed, not proved: the file's header decides.
		"a script":          {conn, headerOf(script), script, codes.FailedPrecondition, "not an ELF file"},
		"another machine's": {conn, headerOf(other), other, codes.FailedPrecondition, "ELF file for"},
	} {
		err := upload(ctx, tc.conn, tc.header, tc.data)
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.want) {
			t.Errorf("%s: %v, want %v mentioning %q", name, err, tc.code, tc.want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(d.cfg.WorkDir, "programs")); len(entries) != 0 {
		t.Errorf("refused uploads left files: %v", entries)
	}
	if err := upload(ctx, conn, good, program); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.cfg.WorkDir, "programs", good.Sha256)); err != nil {
		t.Errorf("the uploaded program is not kept under its hash: %v", err)
	}

	// A driver of that program: the executor runs it as a worker, which
	// here exits at once; the driver gets an error, not a hang.
	stream, _ := connect(t, ctx, d, testSecret, "another program")
	stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: &rpc.Hello{AppId: "app2", Fingerprint: "x", Binary: good}}})
	if _, err := stream.Recv(); status.Code(err) != codes.FailedPrecondition && status.Code(err) != codes.Internal {
		t.Errorf("a worker that exits at once: %v", err)
	}
}

// headerOf is the upload header of program, claiming this platform.
func headerOf(program []byte) *rpc.BinaryHeader {
	sum := sha256.Sum256(program)
	return &rpc.BinaryHeader{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(program)), Goos: runtime.GOOS, Goarch: runtime.GOARCH}
}

func TestUploadNeedsASecret(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "open", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 1,
		GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), runner: mapRunner{fingerprint: "fp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, conn := connect(t, ctx, d, nil, "fp")
	h := &rpc.BinaryHeader{Sha256: strings.Repeat("0", 64), Size: 1, Goos: runtime.GOOS, Goarch: runtime.GOARCH}
	if err := upload(ctx, conn, h, []byte{0}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an upload to an executor without a secret: %v, want PermissionDenied", err)
	}
}

// Attacks on an executor's RPC port, with the secret but hostile input: a
// message over the limit, a flood of task launches, tickets that name paths.
func TestHostileInput(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "exec", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 1, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		runner: mapRunner{fingerprint: "fp"}, WorkDir: t.TempDir(), MaxMessage: 1 << 20, MaxQueued: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Over the limit: refused, and the executor goes on.
	stream, _ := connect(t, ctx, d, testSecret, "fp")
	stream.Recv() // welcome
	stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 1, Argument: make([]byte, 2<<20)}}})
	if _, err := stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 2 MiB message to a 1 MiB limit: %v, want ResourceExhausted", err)
	}

	// A flood of launches: those beyond the queue fail at once.
	stream, _ = connect(t, ctx, d, testSecret, "fp")
	stream.Recv()
	stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 1, Pipeline: "p"}}})
	const flood = 200
	for i := range flood {
		stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{
			TaskId: uint64(i + 1), JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 3, Partition: int32(i), Attempt: 1}}})
	}
	refused := 0
	for range flood {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if st := m.GetStatus(); st.State == rpc.TaskStatus_FAILED && strings.Contains(st.Error.GetMessage(), "refused") {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("%d launches to an executor that queues 4: none refused", flood)
	}

	// Tickets that try to name paths.
	conn, err := grpc.DialContext(ctx, d.RPCAddr(), dialOptions(t, testSecret)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := flight.NewClientFromConn(conn, nil)
	for _, ticket := range []string{"shuffle/../../etc/passwd", "shuffle/1/../2/0", "block/../../etc/passwd", "block/rdd_1_../../x", "shuffle/-1/0/0"} {
		s, err := client.DoGet(ctx, &flight.Ticket{Ticket: []byte(ticket)})
		if err == nil {
			_, err = s.Recv()
		}
		if code := status.Code(err); code != codes.InvalidArgument {
			t.Errorf("ticket %q: %v, want InvalidArgument", ticket, err)
		}
	}
}

// FuzzProgramPath: an uploaded program's hash names a file in the store,
// or is refused.
func FuzzProgramPath(f *testing.F) {
	for _, s := range []string{strings.Repeat("ab", 32), "../../etc/passwd", strings.Repeat("AB", 32), ""} {
		f.Add(s)
	}
	p := &programs{dir: "/store"}
	f.Fuzz(func(t *testing.T, s string) {
		path, err := p.path(s)
		if err != nil {
			return
		}
		if filepath.Dir(path) != "/store" || filepath.Base(path) != s {
			t.Fatalf("hash %q names %q", s, path)
		}
	})
}

func TestExecutorMetrics(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "exec", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 2, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		runner: mapRunner{fingerprint: "fp"}, WorkDir: t.TempDir(), MetricsAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := connect(t, ctx, d, testSecret, "fp")
	stream.Recv()
	stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 1, Pipeline: "p"}}})
	for i := range 3 {
		stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{TaskId: uint64(i + 1), JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 5, Partition: int32(i), Attempt: 1}}})
	}
	var written int64
	for range 3 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		// The task's metrics travel with its status.
		tm := wire.MetricsOf(m.GetStatus().GetMetrics())
		if tm.ShuffleWriteRecords != 2 || tm.ShuffleWriteBytes == 0 {
			t.Errorf("task metrics %+v: want 2 records written", tm)
		}
		written += tm.ShuffleWriteBytes
	}
	resp, err := http.Get("http://" + d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tasks := families["ember_executor_tasks_total"]
	if tasks == nil || tasks.Metric[0].Counter.GetValue() != 3 || families["ember_executor_cores"].Metric[0].Gauge.GetValue() != 2 {
		t.Fatalf("executor metrics: %v", families["ember_executor_tasks_total"])
	}
	var shuffled float64
	for _, m := range families["ember_executor_shuffle_bytes_total"].GetMetric() {
		if m.Label[0].GetValue() == "write" {
			shuffled = m.Counter.GetValue()
		}
	}
	if shuffled != float64(written) || families["ember_executor_task_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount() != 3 {
		t.Errorf("ember_executor_shuffle_bytes_total{direction=write} = %v, want %d; durations %v", shuffled, written, families["ember_executor_task_duration_seconds"])
	}
}

// The tasks of an application that a worker runs count in the executor's
// metrics, as the executor's own do.
func TestRelayedTasksCounted(t *testing.T) {
	d := &Daemon{}
	d.metrics = newDaemonMetrics(d)
	app := &application{d: d, shuffles: make(map[int]bool), relayed: make(map[uint64]time.Time)}
	for id := range uint64(3) {
		app.note(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{TaskId: id + 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 2}}})
	}
	app.relayedEnded(&rpc.TaskStatus{TaskId: 1, Metrics: &rpc.TaskMetrics{ShuffleWriteBytes: 100, ShuffleReadBytes: 7}})
	app.relayedEnded(&rpc.TaskStatus{TaskId: 2, State: rpc.TaskStatus_FAILED})
	app.relayedEnded(&rpc.TaskStatus{TaskId: 9}) // never launched here: not counted
	m := d.metrics
	if got := testutil.ToFloat64(m.tasks.WithLabelValues("succeeded")); got != 1 {
		t.Errorf("succeeded %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.tasks.WithLabelValues("failed")); got != 1 {
		t.Errorf("failed %v, want 1", got)
	}
	if w, r := testutil.ToFloat64(m.shuffle.WithLabelValues("write")), testutil.ToFloat64(m.shuffle.WithLabelValues("read")); w != 100 || r != 7 {
		t.Errorf("shuffle bytes written %v, read %v; want 100, 7", w, r)
	}
	if len(app.relayed) != 1 {
		t.Errorf("%d tasks still noted as running, want 1 (task 3)", len(app.relayed))
	}
}

// Beyond loopback an executor's /metrics asks for the UI token.
func TestMetricsBeyondLoopbackNeedTheToken(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "exec", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 1, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		runner: mapRunner{fingerprint: "fp"}, WorkDir: t.TempDir(), MetricsAddr: "0.0.0.0:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, port, _ := net.SplitHostPort(d.MetricsAddr())
	token, err := auth.UIToken(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	authtest.RequiresBearer(t, "http://127.0.0.1:"+port+"/metrics", token)
}
