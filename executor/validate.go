package executor

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ember-go/ember/internal/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What a driver's messages may hold. A message outside these bounds is
// refused with InvalidArgument naming the field, before anything acts on
// it: a number that would overflow a duration, index a slice or name a
// file must never reach the code that uses it.
const (
	maxIDLength       = 256       // app ids, build ids, fingerprints, block ids
	maxNameLength     = 4 << 10   // pipeline names, RDD ops and creation sites, locations
	maxHeartbeat      = time.Hour // the longest heartbeat interval a driver may ask for
	minHeartbeat      = time.Millisecond
	maxPartitions     = 1 << 24       // of one RDD, or of a shuffle's reduce side
	maxGraphNodes     = 1 << 20       // RDDs in one job's lineage
	maxCachedLocation = maxPartitions // cached blocks a task may read from elsewhere
)

// checkHello checks the message that opens a task stream.
func checkHello(h *rpc.Hello) error {
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message of a task stream must be a hello")
	}
	if err := checkText("hello.app_id", h.AppId, maxIDLength, true); err != nil {
		return err
	}
	if err := checkText("hello.build_id", h.BuildId, maxIDLength, false); err != nil {
		return err
	}
	if err := checkText("hello.fingerprint", h.Fingerprint, maxIDLength, false); err != nil {
		return err
	}
	if ms := h.HeartbeatMs; ms != 0 && (ms < minHeartbeat.Milliseconds() || ms > maxHeartbeat.Milliseconds()) {
		return invalid("hello.heartbeat_ms is %d: want 0 (no heartbeat) or %d to %d", ms, minHeartbeat.Milliseconds(), maxHeartbeat.Milliseconds())
	}
	if b := h.Binary; b != nil {
		if b.Size < 0 {
			return invalid("hello.binary.size is %d: want at least 0", b.Size)
		}
		for field, v := range map[string]string{"sha256": b.Sha256, "goos": b.Goos, "goarch": b.Goarch} {
			if err := checkText("hello.binary."+field, v, maxIDLength, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDriverMessage checks a message of a task stream after its hello.
func checkDriverMessage(m *rpc.DriverMessage) error {
	switch b := m.Body.(type) {
	case *rpc.DriverMessage_Hello:
		return invalid("a task stream has one hello, its first message")
	case *rpc.DriverMessage_Define:
		return checkDefine(b.Define)
	case *rpc.DriverMessage_Launch:
		return checkLaunch(b.Launch)
	case *rpc.DriverMessage_Unpersist:
		return checkID("unpersist.rdd_id", b.Unpersist.GetRddId())
	case *rpc.DriverMessage_Kill, *rpc.DriverMessage_JobEnded:
		return nil // any task id or job key may be asked for: unknown ones are ignored
	default:
		return invalid("a driver message with no body")
	}
}

// checkDefine checks a job's definition.
func checkDefine(d *rpc.DefineJob) error {
	if d == nil {
		return invalid("define: empty")
	}
	if err := checkText("define.pipeline", d.Pipeline, maxNameLength, true); err != nil {
		return err
	}
	if d.JobIndex < 0 {
		return invalid("define.job_index is %d: want at least 0", d.JobIndex)
	}
	for _, ids := range []struct {
		field string
		ids   []int64
	}{{"define.rdd_ids", d.RddIds}, {"define.shuffle_ids", d.ShuffleIds}, {"define.broadcast_ids", d.BroadcastIds}} {
		for _, id := range ids.ids {
			if err := checkID(ids.field, id); err != nil {
				return err
			}
		}
	}
	if len(d.Graph) > maxGraphNodes {
		return invalid("define.graph has %d nodes: at most %d", len(d.Graph), maxGraphNodes)
	}
	for i, n := range d.Graph {
		if err := checkGraphNode(fmt.Sprintf("define.graph[%d]", i), n); err != nil {
			return err
		}
	}
	for i, v := range d.Values {
		if err := checkID(fmt.Sprintf("define.values[%d].id", i), v.GetId()); err != nil {
			return err
		}
	}
	for i, h := range d.History {
		for _, x := range h.GetIndexes() {
			if x < 0 {
				return invalid("define.history[%d].indexes holds %d: want indexes of at least 0", i, x)
			}
		}
	}
	return nil
}

func checkGraphNode(field string, n *rpc.GraphNode) error {
	if n == nil {
		return invalid("%s: empty", field)
	}
	if err := checkID(field+".id", n.Id); err != nil {
		return err
	}
	if n.Partitions < 0 || n.Partitions > maxPartitions {
		return invalid("%s.partitions is %d: want 0 to %d", field, n.Partitions, maxPartitions)
	}
	for _, t := range []struct{ name, v string }{{".op", n.Op}, {".site", n.Site}} {
		if err := checkText(field+t.name, t.v, maxNameLength, false); err != nil {
			return err
		}
	}
	for _, id := range append(append([]int64(nil), n.Parents...), n.Shuffles...) {
		if err := checkID(field+" dependency", id); err != nil {
			return err
		}
	}
	return nil
}

// checkLaunch checks a task's launch.
func checkLaunch(l *rpc.LaunchTask) error {
	if l == nil {
		return invalid("launch: empty")
	}
	if _, ok := rpc.LaunchTask_Kind_name[int32(l.Kind)]; !ok {
		return invalid("launch.kind is %d: not a kind of task", l.Kind)
	}
	if l.Kind != rpc.LaunchTask_RESULT {
		if err := checkID("launch.shuffle_id", l.ShuffleId); err != nil {
			return err
		}
	}
	for field, v := range map[string]int32{"launch.stage_id": l.StageId, "launch.partition": l.Partition, "launch.attempt": l.Attempt} {
		if v < 0 {
			return invalid("%s is %d: want at least 0", field, v)
		}
	}
	if l.Partition >= maxPartitions {
		return invalid("launch.partition is %d: want less than %d", l.Partition, maxPartitions)
	}
	for i, in := range l.Inputs {
		if err := checkInputs(fmt.Sprintf("launch.inputs[%d]", i), in); err != nil {
			return err
		}
	}
	if len(l.Cached) > maxCachedLocation {
		return invalid("launch.cached names %d blocks: at most %d", len(l.Cached), maxCachedLocation)
	}
	for id, at := range l.Cached {
		if err := checkText("launch.cached block id", id, maxIDLength, true); err != nil {
			return err
		}
		if err := checkText("launch.cached["+id+"]", at, maxNameLength, true); err != nil {
			return err
		}
	}
	return nil
}

func checkInputs(field string, in *rpc.ShuffleOutputs) error {
	if in == nil {
		return invalid("%s: empty", field)
	}
	if err := checkID(field+".shuffle_id", in.ShuffleId); err != nil {
		return err
	}
	if len(in.Outputs) > maxPartitions {
		return invalid("%s has %d map outputs: at most %d", field, len(in.Outputs), maxPartitions)
	}
	for j, o := range in.Outputs {
		at := fmt.Sprintf("%s.outputs[%d]", field, j)
		if o == nil {
			return invalid("%s: empty", at)
		}
		if o.MapId < 0 {
			return invalid("%s.map_id is %d: want at least 0", at, o.MapId)
		}
		if err := checkText(at+".location", o.Location, maxNameLength, false); err != nil {
			return err
		}
		if len(o.Sizes) > maxPartitions || len(o.Rows) > maxPartitions {
			return invalid("%s has %d sizes and %d row counts: at most %d", at, len(o.Sizes), len(o.Rows), maxPartitions)
		}
		for _, counts := range [][]int64{o.Sizes, o.Rows} {
			for _, c := range counts {
				if c < 0 {
					return invalid("%s holds a negative size or row count, %d", at, c)
				}
			}
		}
	}
	return nil
}

// checkID checks an RDD, shuffle, broadcast or value id: ids are never
// negative.
func checkID(field string, id int64) error {
	if id < 0 {
		return invalid("%s is %d: want at least 0", field, id)
	}
	return nil
}

// checkText checks a string field's length and encoding.
func checkText(field, s string, maxLen int, required bool) error {
	switch {
	case required && s == "":
		return invalid("%s is empty", field)
	case len(s) > maxLen:
		return invalid("%s has %d bytes: at most %d", field, len(s), maxLen)
	case !utf8.ValidString(s):
		return invalid("%s is not UTF-8", field)
	}
	return nil
}

// admit checks a message of the application's task stream. A malformed
// launch fails that task (its status says why) and the stream goes on;
// any other malformed message ends the stream with the error.
func (a *application) admit(m *rpc.DriverMessage) (ok bool, err error) {
	err = checkDriverMessage(m)
	if err == nil {
		return true, nil
	}
	if l := m.GetLaunch(); l != nil {
		st := failed(err)
		st.TaskId = l.TaskId
		return false, a.send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Status{Status: st}})
	}
	a.d.cfg.Logger.Warn("malformed message from a driver", "app", a.id, "err", err)
	return false, err
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "ember: malformed message: "+format, args...)
}
