package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/urfave/cli/v2"
)

// eventsReport is the --json output of `tbviz events` (schema version 1):
//
//	{
//	  "logdir": "path as given",
//	  "runs": [{
//	    "name": "." | "relative/run/dir",
//	    "files": [{"path": "run/events.out.tfevents...", "records": 12,
//	               "file_version": "brain.Event:2", "writer": "tbviz"}],
//	    "plugins": [{
//	      "plugin": "scalars" | "images" | "text" | "histograms" | other | "" (unknown),
//	      "tags": [{
//	        "tag": "loss", "values": 10, "steps": 10,
//	        "min_step": 0, "max_step": 9,
//	        "first_wall_time": 1.7e9, "last_wall_time": 1.7e9,
//	        "image_sizes": ["64x64"],        // images only: distinct WxH
//	        "max_images_per_step": 2,         // images only
//	        "buckets": 30                     // histograms only: buckets of the last value
//	      }]
//	    }]
//	  }],
//	  "problems": [{"file": "run/events...", "kind": "crc" | "too_large" | "bad_event" |
//	                "truncated" | "decode" | "io", "record": 3, "offset": 120,
//	                "message": "..."}],
//	  "corrupt": 1        // problems of kind crc, too_large or bad_event
//	}
//
// "values" counts every value of the tag, "steps" the distinct steps.
// Runs, plugins and tags are sorted by name. `tbviz events` exits non-zero
// when "corrupt" is non-zero; truncated tails (a writer killed mid-write,
// or still writing) are reported but are not an error.
type eventsReport struct {
	Logdir   string          `json:"logdir"`
	Runs     []eventsRun     `json:"runs"`
	Problems []eventsProblem `json:"problems"`
	Corrupt  int             `json:"corrupt"`
}

type eventsRun struct {
	Name    string         `json:"name"`
	Files   []eventsFile   `json:"files"`
	Plugins []eventsPlugin `json:"plugins"`
}

type eventsFile struct {
	Path        string `json:"path"`
	Records     int    `json:"records"`
	FileVersion string `json:"file_version"`
	Writer      string `json:"writer"`
}

type eventsPlugin struct {
	Plugin string      `json:"plugin"`
	Tags   []eventsTag `json:"tags"`
}

type eventsTag struct {
	Tag           string   `json:"tag"`
	Values        int      `json:"values"`
	Steps         int      `json:"steps"`
	MinStep       int64    `json:"min_step"`
	MaxStep       int64    `json:"max_step"`
	FirstWallTime float64  `json:"first_wall_time"`
	LastWallTime  float64  `json:"last_wall_time"`
	ImageSizes    []string `json:"image_sizes,omitempty"`
	MaxImages     int      `json:"max_images_per_step,omitempty"`
	Buckets       int      `json:"buckets,omitempty"`
}

type eventsProblem struct {
	File    string `json:"file"`
	Kind    string `json:"kind"`
	Record  *int   `json:"record,omitempty"`
	Offset  *int64 `json:"offset,omitempty"`
	Message string `json:"message"`
}

func init() {
	commands = append(commands, &cli.Command{
		Name:      "events",
		Usage:     "summarize the TensorBoard event files of a logdir (like tensorboard --inspect)",
		ArgsUsage: "LOGDIR",
		Description: "Lists each run (a directory holding event files), its files, and its tags grouped by\n" +
			"plugin with value counts, step ranges, image sizes and histogram bucket counts, then every\n" +
			"problem found: checksum mismatches, oversized or undecodable records, truncated tails.\n" +
			"Exits non-zero if any record is corrupt (a truncated tail alone is not an error).\n\n" +
			"--json prints one object:\n" +
			"  {logdir, runs: [{name, files: [{path, records, file_version, writer}],\n" +
			"                   plugins: [{plugin, tags: [{tag, values, steps, min_step, max_step,\n" +
			"                              first_wall_time, last_wall_time, image_sizes?,\n" +
			"                              max_images_per_step?, buckets?}]}]}],\n" +
			"   problems: [{file, kind: crc|too_large|bad_event|truncated|decode|io, record?, offset?,\n" +
			"               message}],\n" +
			"   corrupt: N}",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print a JSON report (schema in the description)"},
		},
		Action: eventsAction,
	})
}

func eventsAction(c *cli.Context) error {
	args := c.Args().Slice()
	asJSON := c.Bool("json")
	// Accept the flag after the logdir too: `tbviz events LOGDIR --json`.
	var rest []string
	for _, a := range args {
		if a == "--json" || a == "-json" {
			asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) != 1 {
		return fmt.Errorf("events: want exactly one LOGDIR argument, got %d", len(rest))
	}
	ld, err := tbwriter.ReadLogdir(rest[0])
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	rep := buildEventsReport(rest[0], ld)
	if asJSON {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	} else if err := printEventsReport(c.App.Writer, rep); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if rep.Corrupt > 0 {
		return fmt.Errorf("events: %d corrupt record(s) in %s", rep.Corrupt, rest[0])
	}
	return nil
}

func buildEventsReport(dir string, ld *tbwriter.Logdir) *eventsReport {
	rep := &eventsReport{Logdir: dir, Runs: []eventsRun{}, Problems: []eventsProblem{}}
	for _, run := range ld.Runs {
		er := eventsRun{Name: run.Name}
		for _, f := range run.Files {
			er.Files = append(er.Files, eventsFile{Path: f.Path, Records: f.Records, FileVersion: f.FileVersion, Writer: f.Writer})
		}
		byPlugin := map[string]map[string]*eventsTag{}
		steps := map[string]map[int64]bool{}
		sizes := map[string]map[string]bool{}
		for _, v := range run.Values {
			tags := byPlugin[v.Plugin]
			if tags == nil {
				tags = map[string]*eventsTag{}
				byPlugin[v.Plugin] = tags
			}
			t := tags[v.Tag]
			if t == nil {
				t = &eventsTag{Tag: v.Tag, MinStep: v.Step, MaxStep: v.Step, FirstWallTime: v.WallTime}
				tags[v.Tag] = t
				steps[v.Plugin+"\x00"+v.Tag] = map[int64]bool{}
			}
			key := v.Plugin + "\x00" + v.Tag
			t.Values++
			steps[key][v.Step] = true
			t.MinStep = min(t.MinStep, v.Step)
			t.MaxStep = max(t.MaxStep, v.Step)
			t.LastWallTime = v.WallTime
			switch v.Kind {
			case tbwriter.KindImage:
				t.MaxImages = max(t.MaxImages, len(v.Images))
				for _, im := range v.Images {
					if sizes[key] == nil {
						sizes[key] = map[string]bool{}
					}
					sizes[key][fmt.Sprintf("%dx%d", im.Width, im.Height)] = true
				}
			case tbwriter.KindHistogram:
				t.Buckets = len(v.Buckets)
			}
		}
		for _, plugin := range sortedKeys(byPlugin) {
			ep := eventsPlugin{Plugin: plugin}
			for _, tag := range sortedKeys(byPlugin[plugin]) {
				t := byPlugin[plugin][tag]
				key := plugin + "\x00" + tag
				t.Steps = len(steps[key])
				t.ImageSizes = sortedKeys(sizes[key])
				ep.Tags = append(ep.Tags, *t)
			}
			er.Plugins = append(er.Plugins, ep)
		}
		rep.Runs = append(rep.Runs, er)
	}
	for _, p := range ld.Problems {
		ep := eventsProblem{File: p.File, Kind: "io", Message: p.Error()}
		var ce *tbwriter.CorruptError
		var te *tbwriter.TruncatedError
		var de *tbwriter.DecodeError
		switch {
		case errors.As(p.Err, &ce):
			ep.Record, ep.Offset = &ce.Record, &ce.Offset
			switch ce.Kind {
			case tbwriter.LengthCRC, tbwriter.DataCRC:
				ep.Kind = "crc"
			case tbwriter.TooLarge:
				ep.Kind = "too_large"
			default:
				ep.Kind = "bad_event"
			}
			rep.Corrupt++
		case errors.As(p.Err, &te):
			ep.Kind = "truncated"
			ep.Record, ep.Offset = &te.Record, &te.Offset
		case errors.As(p.Err, &de):
			ep.Kind = "decode"
			ep.Record = &de.Record
		}
		rep.Problems = append(rep.Problems, ep)
	}
	return rep
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func printEventsReport(w io.Writer, rep *eventsReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "logdir %s: %d run(s), %d problem(s)\n", rep.Logdir, len(rep.Runs), len(rep.Problems))
	for _, run := range rep.Runs {
		records := 0
		for _, f := range run.Files {
			records += f.Records
		}
		fmt.Fprintf(tw, "\nrun %q: %d file(s), %d record(s)\n", run.Name, len(run.Files), records)
		for _, f := range run.Files {
			fmt.Fprintf(tw, "  file %s (%d records, %s, writer %q)\n", f.Path, f.Records, f.FileVersion, f.Writer)
		}
		for _, p := range run.Plugins {
			name := p.Plugin
			if name == "" {
				name = "(no plugin metadata)"
			}
			fmt.Fprintf(tw, "  %s\n", name)
			for _, t := range p.Tags {
				steps := fmt.Sprintf("step %d", t.MinStep)
				if t.MinStep != t.MaxStep {
					steps = fmt.Sprintf("steps %d..%d", t.MinStep, t.MaxStep)
				}
				extra := ""
				if len(t.ImageSizes) > 0 {
					extra = fmt.Sprintf("%s, up to %d per step", strings.Join(t.ImageSizes, " "), t.MaxImages)
				}
				if t.Buckets > 0 {
					extra = fmt.Sprintf("%d buckets", t.Buckets)
				}
				fmt.Fprintf(tw, "    %s\t%d value(s)\t%d step(s)\t%s\t%s\n", t.Tag, t.Values, t.Steps, steps, extra)
			}
		}
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(tw, "\nproblems (%d corrupt):\n", rep.Corrupt)
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "  [%s] %s\n", p.Kind, p.Message)
		}
	}
	return tw.Flush()
}
