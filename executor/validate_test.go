package executor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Malformed messages from a driver holding the secret: a launch fails its
// own task and the stream goes on; any other ends the stream with
// InvalidArgument naming the field; the executor serves on.
func TestMalformedMessages(t *testing.T) {
	d := startServiceDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	launches := map[string]*rpc.LaunchTask{
		"launch.partition":                   {TaskId: 1, JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 3, Partition: -1},
		"launch.shuffle_id":                  {TaskId: 2, JobKey: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: -5},
		"launch.kind":                        {TaskId: 3, JobKey: 1, Kind: 42},
		"launch.attempt":                     {TaskId: 4, JobKey: 1, Attempt: -1},
		"launch.inputs[0].outputs[0].map_id": {TaskId: 5, JobKey: 1, Inputs: []*rpc.ShuffleOutputs{{ShuffleId: 1, Outputs: []*rpc.MapOutput{{MapId: -2}}}}},
		"negative size or row count":         {TaskId: 6, JobKey: 1, Inputs: []*rpc.ShuffleOutputs{{ShuffleId: 1, Outputs: []*rpc.MapOutput{{Sizes: []int64{1, -1}}}}}},
		"launch.cached block id":             {TaskId: 7, JobKey: 1, Cached: map[string]string{"": "127.0.0.1:1"}},
	}
	stream, _ := connect(t, ctx, d, testSecret, "fp")
	if _, err := stream.Recv(); err != nil { // welcome
		t.Fatal(err)
	}
	for field, l := range launches {
		stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: l}})
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after a launch with a bad %s: %v", field, err)
		}
		st := m.GetStatus()
		if st.GetTaskId() != l.TaskId || st.State != rpc.TaskStatus_FAILED || !strings.Contains(st.Error.GetMessage(), field) {
			t.Errorf("a launch with a bad %s: %v, want task %d failed naming it", field, m, l.TaskId)
		}
	}

	for field, m := range map[string]*rpc.DriverMessage{
		"define.pipeline":            {Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{JobKey: 1}}},
		"define.job_index":           {Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{Pipeline: "p", JobIndex: -1}}},
		"define.rdd_ids":             {Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{Pipeline: "p", RddIds: []int64{3, -3}}}},
		"define.graph[0].partitions": {Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{Pipeline: "p", Graph: []*rpc.GraphNode{{Partitions: -4}}}}},
		"unpersist.rdd_id":           {Body: &rpc.DriverMessage_Unpersist{Unpersist: &rpc.Unpersist{RddId: -1}}},
		"one hello":                  {Body: &rpc.DriverMessage_Hello{Hello: &rpc.Hello{AppId: "again"}}},
		"no body":                    {},
	} {
		stream, _ := connect(t, ctx, d, testSecret, "fp")
		stream.Recv()
		stream.Send(m)
		if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("a message with a bad %s: %v, want InvalidArgument naming it", field, err)
		}
	}

	conn, err := grpc.DialContext(ctx, d.RPCAddr(), dialOptions(t, testSecret)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for field, h := range map[string]*rpc.Hello{
		"hello.heartbeat_ms": {AppId: "a", HeartbeatMs: 9223372036855},
		"hello.app_id":       {AppId: ""},
		"hello.fingerprint":  {AppId: "a", Fingerprint: strings.Repeat("f", 1000)},
		"hello.binary.size":  {AppId: "a", Binary: &rpc.BinaryHeader{Size: -1}},
	} {
		s, err := rpc.NewExecutorClient(conn).Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: h}})
		if _, err := s.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("a hello with a bad %s: %v, want InvalidArgument naming it", field, err)
		}
	}

	// Still serving.
	stream, _ = connect(t, ctx, d, testSecret, "fp")
	if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("after the malformed messages: %v, %v; want a welcome", m, err)
	}
}

// FuzzDriverMessage: any message a driver may send is admitted or refused
// by the checks, which never panic; an admitted one has no negative ids.
func FuzzDriverMessage(f *testing.F) {
	for _, m := range []*rpc.DriverMessage{
		{Body: &rpc.DriverMessage_Launch{Launch: &rpc.LaunchTask{TaskId: 1, Kind: rpc.LaunchTask_MAP, ShuffleId: 3, Partition: 2,
			Inputs: []*rpc.ShuffleOutputs{{ShuffleId: 1, Outputs: []*rpc.MapOutput{{MapId: 0, Location: "127.0.0.1:7947", Sizes: []int64{10}}}}}}}},
		{Body: &rpc.DriverMessage_Define{Define: &rpc.DefineJob{Pipeline: "p", Graph: []*rpc.GraphNode{{Id: 1, Partitions: 4, Parents: []int64{0}}}}}},
		{Body: &rpc.DriverMessage_Hello{Hello: &rpc.Hello{AppId: "a", HeartbeatMs: 9223372036855}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m rpc.DriverMessage
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		if h := m.GetHello(); h != nil {
			if checkHello(h) == nil && (h.HeartbeatMs < 0 || h.AppId == "") {
				t.Fatalf("admitted hello %v", h)
			}
			return
		}
		if checkDriverMessage(&m) != nil {
			return
		}
		if l := m.GetLaunch(); l != nil && (l.Partition < 0 || l.Attempt < 0 || l.StageId < 0) {
			t.Fatalf("admitted launch %v", l)
		}
	})
}
