package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// The attacks of docs/security.md, mounted against executor processes on
// loopback.

// attackSecret writes a cluster secret to a 0600 file and returns both.
func attackSecret(t *testing.T) (file string, secret []byte) {
	t.Helper()
	secret = []byte("the secret of the attacked cluster")
	file = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, secret
}

// dial connects to addr: with a secret, with its tokens over the TLS the
// secret derives, as drivers do; without, over plain TCP.
func dial(t *testing.T, addr string, secret []byte) *grpc.ClientConn {
	t.Helper()
	var tc *tls.Config
	if len(secret) > 0 {
		var err error
		if _, tc, err = auth.ClusterTLS(secret, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var creds credentials.PerRPCCredentials
	if len(secret) > 0 {
		creds = auth.Credentials(secret)
	}
	return dialWith(t, addr, tc, creds)
}

// dialWith connects to addr over TLS if tc is set, with the given per-call
// credentials if set.
func dialWith(t *testing.T, addr string, tc *tls.Config, creds credentials.PerRPCCredentials) *grpc.ClientConn {
	t.Helper()
	opts := append(auth.DialOptions(nil, tc), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1<<30)))
	if creds != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(creds))
	}
	conn, err := grpc.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rss is the resident memory of process pid, in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read a process's memory: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if kb, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			return n << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// Four unauthenticated calls carrying 250 MiB each are refused from their
// headers: the executor reads none of their messages, and its memory
// stays where it was (it grew by 2 GB when the token was checked after
// the message was read).
func TestUnauthenticatedCallsCostNoMemory(t *testing.T) {
	file, _ := attackSecret(t)
	// Over plain TCP, as TLS would stop the calls before HTTP/2.
	e := startExecutor(t, "attacked", file, "--insecure-transport")
	before := rss(t, e.cmd.Process.Pid)
	conn := dial(t, e.rpc, nil)
	body := bytes.Repeat([]byte{'x'}, 250<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = flight.NewFlightServiceClient(conn).GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: body})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("unauthenticated call %d: %v, want Unauthenticated", i, err)
		}
	}
	after := rss(t, e.cmd.Process.Pid)
	t.Logf("executor RSS: %d MiB before, %d MiB after 4 unauthenticated calls of 250 MiB", before>>20, after>>20)
	if after-before > 64<<20 {
		t.Errorf("the executor grew by %d MiB for calls it refused", (after-before)>>20)
	}
}

// A hello asking for a heartbeat every 9223372036855 ms (which overflows
// a time.Duration) is refused as malformed, and the executor goes on.
func TestOverflowingHeartbeat(t *testing.T) {
	file, secret := attackSecret(t)
	e := startExecutor(t, "attacked", file)
	conn := dial(t, e.rpc, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hello := func(h *rpc.Hello) error {
		stream, err := rpc.NewExecutorClient(conn).Connect(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: h}}); err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	err := hello(&rpc.Hello{AppId: "attacker", HeartbeatMs: 9223372036855})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "heartbeat_ms") {
		t.Fatalf("an overflowing heartbeat: %v, want InvalidArgument naming heartbeat_ms", err)
	}
	// Still serving: a driver of another program is told so.
	if err := hello(&rpc.Hello{AppId: "next", HeartbeatMs: 1000}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a hello after the attack: %v, want FailedPrecondition (another program)", err)
	}
	select {
	case err := <-e.exited:
		t.Fatalf("the executor exited: %v", err)
		e.exited <- err
	default:
	}
}

// Three uploads that send nothing, with a valid token, are cut off after
// the idle timeout, and an upload after them gets a slot (two run at
// once; silent ones held them forever).
func TestSilentUploadsAreCutOff(t *testing.T) {
	file, secret := attackSecret(t)
	e := startExecutor(t, "attacked", file, "--upload-idle-timeout", "2s")
	conn := dial(t, e.rpc, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	silent := make(chan error, 3)
	for range 3 {
		up, err := rpc.NewExecutorClient(conn).Upload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Never sends, never closes: waits for the executor's answer.
		go func() { silent <- up.RecvMsg(new(rpc.UploadReply)) }()
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to upload:", err)
	}
	program, err := os.ReadFile(trueBin)
	if err != nil {
		t.Fatal(err)
	}
	// It waits for at most two silent uploads to be cut off.
	start := time.Now()
	uploadCtx, cancelUpload := context.WithTimeout(ctx, 10*time.Second)
	defer cancelUpload()
	if err := uploadProgram(uploadCtx, conn, program); err != nil {
		t.Fatalf("an upload after three silent ones: %v", err)
	}
	t.Logf("an upload after three silent ones finished in %v", time.Since(start).Round(time.Millisecond))
	for range 3 {
		if err := <-silent; status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "sent nothing") {
			t.Errorf("a silent upload: %v, want DeadlineExceeded", err)
		}
	}
}

// uploadProgram uploads program as a driver does, claiming this platform.
func uploadProgram(ctx context.Context, conn *grpc.ClientConn, program []byte) error {
	up, err := rpc.NewExecutorClient(conn).Upload(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(program)
	h := &rpc.BinaryHeader{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(program)), Goos: runtime.GOOS, Goarch: runtime.GOARCH}
	if err := up.Send(&rpc.BinaryChunk{Header: h, Data: program}); err != nil {
		_, err = up.CloseAndRecv()
		return err
	}
	_, err = up.CloseAndRecv()
	return err
}

// A token captured from a call (as an insider would, the strongest case of
// a sniffer) is worth nothing: not again on the same executor, not on
// another connection, not for another method, not on another executor;
// over TLS, and over plain TCP where a sniffer could read it.
func TestCapturedTokensCannotBeReplayed(t *testing.T) {
	file, secret := attackSecret(t)
	for _, transport := range []string{"tls", "plain"} {
		t.Run(transport, func(t *testing.T) {
			var args []string
			var tc *tls.Config
			if transport == "plain" {
				args = append(args, "--insecure-transport")
			} else {
				var err error
				if _, tc, err = auth.ClusterTLS(secret, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			a := startExecutor(t, "attacked-a", file, args...)
			b := startExecutor(t, "attacked-b", file, args...)
			rec := &recordingCredentials{PerRPCCredentials: auth.Credentials(secret)}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			info := func(conn *grpc.ClientConn) error {
				_, err := flight.NewFlightServiceClient(conn).GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD})
				return err
			}
			if err := info(dialWith(t, a.rpc, tc, rec)); status.Code(err) == codes.Unauthenticated {
				t.Fatalf("the captured call itself: %v", err)
			}
			replay := replayedCredentials{header: rec.last()}
			for name, err := range map[string]error{
				"the same call again":      info(dialWith(t, a.rpc, tc, replay)),
				"an upload":                uploadProgram(ctx, dialWith(t, a.rpc, tc, replay), []byte("#!/bin/sh\ncat\n")),
				"the same call to another": info(dialWith(t, b.rpc, tc, replay)),
			} {
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("replaying the token for %s: %v, want Unauthenticated", name, err)
				} else {
					t.Logf("replaying the token for %s: %v", name, status.Convert(err).Message())
				}
			}
		})
	}
}

// By default an executor speaks TLS derived from the secret: a caller over
// plain TCP, or with the certificates of another secret, does not get past
// the handshake; one with the secret's certificates but no token is
// refused its call.
func TestStrangersDoNotGetPastTLS(t *testing.T) {
	file, secret := attackSecret(t)
	e := startExecutor(t, "attacked", file)
	_, other, err := auth.ClusterTLS([]byte("another cluster's secret, 32 bytes"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, own, err := auth.ClusterTLS(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		conn *grpc.ClientConn
		want codes.Code
	}{
		"plain TCP":             {dialWith(t, e.rpc, nil, auth.Credentials(secret)), codes.Unavailable},
		"another secret's TLS":  {dialWith(t, e.rpc, other, auth.Credentials(secret)), codes.Unavailable},
		"the TLS, but no token": {dialWith(t, e.rpc, own, nil), codes.Unauthenticated},
	} {
		_, err := flight.NewFlightServiceClient(tc.conn).GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD})
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// recordingCredentials remembers the last token it made.
type recordingCredentials struct {
	credentials.PerRPCCredentials
	mu     sync.Mutex
	header map[string]string
}

func (r *recordingCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md, err := r.PerRPCCredentials.GetRequestMetadata(ctx, uri...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.header = md
	return md, err
}

func (r *recordingCredentials) last() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.header
}

// replayedCredentials sends the same headers on every call.
type replayedCredentials struct{ header map[string]string }

func (r replayedCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return r.header, nil
}
func (replayedCredentials) RequireTransportSecurity() bool { return false }

// No child holds the secret in its environment, which other processes of
// the user can read (/proc/PID/environ): a local cluster's executors get it
// through a pipe, and the driver's own EMBER_SECRET is not passed on.
func TestNoSecretInChildrenEnvironment(t *testing.T) {
	cmd := exec.Command(emberBinary(t), "run", "wordcount", "--master", "local-cluster[2,1]", "--keep-ui", "--no-progress")
	cmd.Env = append(os.Environ(), auth.EnvSecret+"=a secret the driver was given")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	ended := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "the job ended") {
				close(ended)
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ended:
	case <-time.After(2 * time.Minute):
		t.Fatal("the job did not end within 2 minutes")
	}
	children := childrenOf(t, cmd.Process.Pid)
	if len(children) != 2 {
		t.Fatalf("the driver has %d children, want its 2 executors", len(children))
	}
	for _, pid := range children {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		for kv := range strings.SplitSeq(string(env), "\x00") {
			if strings.HasPrefix(kv, auth.EnvSecret+"=") {
				t.Errorf("executor %d has %s in its environment", pid, auth.EnvSecret)
			}
		}
		if !strings.Contains(string(env), "EMBER_SECRET_ON_STDIN=1") {
			t.Errorf("executor %d was not given its secret on its standard input", pid)
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so after its ")".
		_, rest, _ := strings.Cut(string(stat), ") ")
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}

// An executor on loopback started without a secret uses the user's
// loopback secret, made in a file only the user reads: a driver of the
// same user joins, one run as another user (nobody) does not.
func TestLoopbackClusterHasASecret(t *testing.T) {
	configDir := t.TempDir()
	e := startExecutorEnv(t, []string{"XDG_CONFIG_HOME=" + configDir, auth.EnvSecret + "="}, "loopback", "")
	file := filepath.Join(configDir, "ember", "secret")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the executor made no secret: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the secret file has mode %v, want 0600", fi.Mode().Perm())
	}
	run := func(binary, configDir string, uid int) ([]byte, error) {
		cmd := exec.Command(binary, "run", "dotproduct", "--size", "1000", "--master", "ember://"+e.gossip,
			"--conf", "cluster.executorWait=3s")
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+configDir, auth.EnvSecret+"=", "HOME="+configDir)
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		return cmd.CombinedOutput()
	}
	if out, err := run(emberBinary(t), configDir, 0); err != nil || !strings.Contains(string(out), "999502.0 (plain loop: 999502.0)") {
		t.Fatalf("a driver of the same user: %v\n%s", err, out)
	}
	if os.Getuid() != 0 {
		t.Skip("running a driver as another user needs root")
	}
	// Another user runs a copy of the binary they may read, with a
	// configuration directory of their own, and no way into this one.
	open, err := os.MkdirTemp("", "ember-nobody-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	theirs := filepath.Join(open, "config")
	bin := filepath.Join(open, "ember")
	data, err := os.ReadFile(emberBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chmod(open, 0o755), os.Mkdir(theirs, 0o777), os.Chmod(theirs, 0o777), os.WriteFile(bin, data, 0o755)); err != nil {
		t.Fatal(err)
	}
	out, err := run(bin, theirs, 65534)
	if err == nil {
		t.Fatalf("a driver run as nobody joined the cluster:\n%s", out)
	}
	t.Logf("a driver run as nobody: %v: %s", err, lastLine(out))
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
