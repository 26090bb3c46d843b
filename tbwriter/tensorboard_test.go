package tbwriter

import (
	"os/exec"
	"strings"
	"testing"
)

// tbCheck loads a logdir with TensorBoard's own EventAccumulator and prints
// what it sees, one line per tag.
const tbCheck = `
import sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.TENSORS: 0})
acc.Reload()
from tensorboard.util import tensor_util
for tag in sorted(acc.Tags()['tensors']):
    evs = acc.Tensors(tag)
    plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
    arr = tensor_util.make_ndarray(evs[0].tensor_proto)
    print(tag, plugin, len(evs), evs[0].step, arr.shape)
`

// TestTensorBoardReadsOurFiles runs only where the tensorboard Python
// package is installed.
func TestTensorBoardReadsOurFiles(t *testing.T) {
	if err := exec.Command("python3", "-c", "import tensorboard").Run(); err != nil {
		t.Skip("python3 with the tensorboard package is not available; skipping the EventAccumulator check")
	}
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	must(t, w.Scalar("loss", 1, 0.5))
	must(t, w.Scalar("loss", 2, 0.25))
	must(t, w.Image("img", 1, testImage(4, 3, 0), testImage(4, 3, 1)))
	must(t, w.Text("txt", 1, "hello"))
	must(t, w.Histogram("h", 1, []float64{1, 2, 3}))
	must(t, w.Close())
	out, err := exec.Command("python3", "-c", tbCheck, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("EventAccumulator: %v\n%s", err, out)
	}
	want := "h histograms 1 1 (30, 3)\nimg images 1 1 (4,)\nloss scalars 2 1 ()\ntxt text 1 1 ()\n"
	if string(out) != want && !strings.HasSuffix(string(out), want) {
		t.Errorf("TensorBoard saw:\n%s\nwant:\n%s", out, want)
	}
}
