package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	commands = append(commands, &cli.Command{
		Name:  "version",
		Usage: "print the tbviz version, Go version and available engines",
		Action: func(c *cli.Context) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(c.App.Writer, "tbviz %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			for _, line := range engineReport() {
				fmt.Fprintln(c.App.Writer, line)
			}
			return nil
		},
	})
}

// engineReport lists the engines compiled into this binary, one line each.
func engineReport() []string {
	var lines []string
	for _, f := range engineLines {
		lines = append(lines, f())
	}
	return lines
}

// engineLines holds one report function per engine compiled in; engine
// files append to it from init. The functions run only for `tbviz
// version`, so an engine may do slow work there (listing GPU devices).
var engineLines []func() string
