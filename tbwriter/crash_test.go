package tbwriter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "TBWRITER_CRASH_CHILD_DIR"

// crashChild runs in the re-executed test binary: it writes and flushes
// crashFlushed events, says so, then writes large events until killed.
func crashChild(dir string) {
	w, err := NewWriter(dir, &Options{FlushInterval: -1, BufferSize: 4096})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	for i := range crashFlushed {
		if err := w.Scalar("flushed", int64(i), float64(i)); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("flushed", w.Path())
	big := strings.Repeat("tail event ", 3000) // ~33 KB: several write calls per record
	for i := 0; ; i++ {
		if err := w.Text("more", int64(i), big); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
	}
}

const crashFlushed = 50

func TestCrashSafety(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "flushed ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v)", line, err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(line, "flushed "))
	time.Sleep(30 * time.Millisecond) // let it write a few more records
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}

	r, err := Open(path)
	must(t, err)
	defer r.Close()
	flushed, more := 0, 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			t.Log("clean end of file after the kill")
			break
		}
		var te *TruncatedError
		if errors.As(err, &te) {
			t.Logf("truncated tail reported: %v", te)
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v", flushed+more, err)
		}
		for _, v := range ev.GetSummary().GetValue() {
			switch v.GetTag() {
			case "flushed":
				if ev.Step != int64(flushed) || v.GetTensor().GetDoubleVal()[0] != float64(flushed) {
					t.Errorf("flushed event %d: step %d", flushed, ev.Step)
				}
				flushed++
			case "more":
				more++
			}
		}
	}
	if flushed != crashFlushed {
		t.Errorf("read %d flushed events, want %d", flushed, crashFlushed)
	}
	t.Logf("%d flushed events and %d later events survived", flushed, more)
	ld, err := ReadLogdir(dir)
	must(t, err)
	for _, p := range ld.Problems {
		if !p.IsTruncation() {
			t.Errorf("problem other than a truncated tail: %v", p)
		}
	}
}
