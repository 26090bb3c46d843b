// Package progress draws a progress bar on a terminal for tbviz's long
// commands (explain, filters, featuremaps, watch) and stays silent when its
// writer is not a terminal, so logs and pipes get no control characters.
package progress

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts finished units of work. The zero value and a nil *Bar are
// valid and draw nothing. A Bar is safe for concurrent use.
type Bar struct {
	bar *progressbar.ProgressBar
}

// New returns a bar of total units described by desc, drawn on w when w is
// a terminal (an *os.File whose descriptor is a TTY) and silent otherwise.
func New(w io.Writer, total int, desc string) *Bar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return &Bar{}
	}
	return NewForced(w, total, desc)
}

// NewForced returns a bar drawn on w whether or not w is a terminal (for
// tests and for callers that decide themselves).
func NewForced(w io.Writer, total int, desc string) *Bar {
	return &Bar{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)}
}

// Add records n more finished units.
func (b *Bar) Add(n int) {
	if b == nil || b.bar == nil {
		return
	}
	_ = b.bar.Add(n)
}

// Describe changes the description shown before the bar.
func (b *Bar) Describe(desc string) {
	if b == nil || b.bar == nil {
		return
	}
	b.bar.Describe(desc)
}

// Finish completes the bar and clears it from the terminal.
func (b *Bar) Finish() {
	if b == nil || b.bar == nil {
		return
	}
	_ = b.bar.Finish()
}
