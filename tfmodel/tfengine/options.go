package tfengine

import (
	"fmt"
	"strconv"
	"strings"

	configpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Options configures the TensorFlow engine. The zero value (or a nil
// pointer) lets TensorFlow place ops (on the first GPU when libtensorflow
// was built with CUDA and one is visible, else on the CPU) and size its
// thread pools.
type Options struct {
	// Device pins every op to one device: "cpu", "gpu", "gpu:1",
	// "/GPU:0" or a full name such as "/job:localhost/replica:0/task:0/device:GPU:0".
	// Ops without a kernel on that device (int32 shape arithmetic on a
	// GPU) fall back to the CPU: sessions allow soft placement.
	Device string
	// LogDevicePlacement makes TensorFlow log every op's device to stderr
	// when a session first runs it (ConfigProto.log_device_placement).
	LogDevicePlacement bool
	// IntraOpThreads and InterOpThreads size TensorFlow's thread pools;
	// 0 lets TensorFlow choose.
	IntraOpThreads, InterOpThreads int
	// NoGPUMemoryGrowth makes TensorFlow reserve most of the GPU memory
	// at start-up instead of growing its allocation as needed.
	NoGPUMemoryGrowth bool
}

// Device is one device a TensorFlow session can use.
type Device struct {
	// Name is the full device name, e.g.
	// "/job:localhost/replica:0/task:0/device:GPU:0".
	Name string
	// Type is "CPU", "GPU", …
	Type string
	// MemoryLimitBytes is the memory TensorFlow may use on it (-1: no
	// limit known).
	MemoryLimitBytes int64
}

// String returns "GPU /job:localhost/replica:0/task:0/device:GPU:0 (15.1 GiB)".
func (d Device) String() string {
	s := d.Type + " " + d.Name
	if d.MemoryLimitBytes > 0 {
		s += fmt.Sprintf(" (%.1f GiB)", float64(d.MemoryLimitBytes)/(1<<30))
	}
	return s
}

// NormalizeDevice turns the --device forms "cpu", "gpu", "gpu:1", "GPU:0",
// "/GPU:0" and "/device:GPU:0" into TensorFlow's "/device:TYPE:N"; a name
// starting with "/job:" is returned as given. "" stays "" (TensorFlow
// chooses).
func NormalizeDevice(s string) (string, error) {
	if s == "" || strings.HasPrefix(s, "/job:") {
		return s, nil
	}
	t := strings.TrimPrefix(strings.TrimPrefix(s, "/"), "device:")
	typ, idx, hasIdx := strings.Cut(t, ":")
	typ = strings.ToUpper(typ)
	if typ == "" || strings.ContainsAny(typ, "/ ") {
		return "", fmt.Errorf("device %q: want cpu, gpu, gpu:N, /GPU:N or /device:TYPE:N", s)
	}
	n := 0
	if hasIdx {
		v, err := strconv.Atoi(idx)
		if err != nil || v < 0 {
			return "", fmt.Errorf("device %q: device index %q is not a non-negative integer", s, idx)
		}
		n = v
	}
	return "/device:" + typ + ":" + strconv.Itoa(n), nil
}

// sessionConfig serialises the ConfigProto for o.
func sessionConfig(o Options) ([]byte, error) {
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return nil, fmt.Errorf("tfengine: negative thread count (intra %d, inter %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	if o.IntraOpThreads > 1<<16 || o.InterOpThreads > 1<<16 {
		return nil, fmt.Errorf("tfengine: thread count too large (intra %d, inter %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	c := &configpb.ConfigProto{
		AllowSoftPlacement:        true,
		LogDevicePlacement:        o.LogDevicePlacement,
		IntraOpParallelismThreads: int32(o.IntraOpThreads),
		InterOpParallelismThreads: int32(o.InterOpThreads),
		GpuOptions:                &configpb.GPUOptions{AllowGrowth: !o.NoGPUMemoryGrowth},
	}
	b, err := proto.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("tfengine: session config: %w", err)
	}
	return b, nil
}
