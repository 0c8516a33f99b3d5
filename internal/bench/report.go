package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shoalfs/shoal/internal/fserr"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the machine, the parameters and the results as an
// aligned table: the Shoal figure and the host figure (the physical limit)
// side by side, their ratio, the target and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	m := r.Machine
	p := r.Options
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s, %d cores, %s memory, %s, %s\n", orUnknown(m.CPU), m.Cores, FormatSize(int64(m.MemoryBytes)), orUnknown(m.Kernel), m.GoVersion)
	if m.Disk.Path != "" {
		fmt.Fprintf(&b, "disk:    %s on %s (%s, mounted at %s), %s free of %s\n", m.Disk.Path, orUnknown(m.Disk.Device), orUnknown(m.Disk.FSType), orUnknown(m.Disk.MountPoint), FormatSize(int64(m.Disk.FreeBytes)), FormatSize(int64(m.Disk.TotalBytes)))
	}
	if r.Server != "" {
		fmt.Fprintf(&b, "server:  %s, through shoal.Dial over loopback\n", r.Server)
		fmt.Fprintf(&b, "limit:   loopback TCP %s MiB/s %s (one stream, two goroutines; the loopback column)\n", num(r.Loopback.Median), span(r.Loopback))
	}
	fmt.Fprintf(&b, "params:  repeat %d, threads %d; big %s in %s I/O; small %d x %s; meta %d files in %d dirs; readdir %d entries\n",
		p.Repeat, p.Threads, FormatSize(p.BigSize), FormatSize(int64(p.IOSize)), p.SmallFiles, FormatSize(int64(p.SmallSize)), p.MetaFiles, p.MetaDirs, p.ReadDirEntries)
	if len(p.ClientCounts) > 0 {
		fmt.Fprintf(&b, "clients: %v separate clients for the clients.N rows\n", p.ClientCounts)
	}
	fmt.Fprintf(&b, "figures: median [min-max] of %d runs; ratio = Shoal speed / host speed (1.00 = physical limit); took %s\n\n", p.Repeat, r.Duration)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	loop := r.Server != ""
	head := "metric\tunit\tshoal\t[min-max]\thost (limit)\t[min-max]\tratio\t"
	if loop {
		head += "loopback\t"
	}
	fmt.Fprintln(tw, head+"target\tverdict\t")
	for _, res := range r.Results {
		target := "-"
		if res.Target > 0 {
			op := ">="
			if !res.HigherIsBetter {
				op = "<"
			}
			target = op + " " + strconv.FormatFloat(res.Target, 'f', -1, 64)
		}
		ratio := "-"
		if res.Ratio > 0 {
			ratio = strconv.FormatFloat(res.Ratio, 'f', 2, 64)
		}
		host := "-"
		if len(res.Host.Samples) > 0 {
			host = num(res.Host.Median)
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t", res.Metric, res.Unit,
			num(res.Shoal.Median), span(res.Shoal), host, span(res.Host), ratio)
		if loop {
			lb := ""
			if res.Unit == "MiB/s" {
				lb = num(r.Loopback.Median)
			}
			row += lb + "\t"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t\n", row, target, res.Verdict())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes strings.Builder
	for _, res := range r.Results {
		if res.Note != "" {
			fmt.Fprintf(&notes, "  %s: %s\n", res.Metric, res.Note)
		}
	}
	if notes.Len() > 0 {
		_, err := io.WriteString(w, "\nnotes:\n"+notes.String())
		return err
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func span(s Stats) string {
	if len(s.Samples) == 0 {
		return ""
	}
	return "[" + num(s.Min) + "-" + num(s.Max) + "]"
}

// num prints a figure with three significant digits at most, and whole
// numbers above 100, so the table stays narrow and honest about precision.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1}, {"", 1},
}

// ParseSize parses a byte count such as "1GiB", "512MiB", "64M" (binary),
// "1GB" (decimal) or "4096".
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range sizeUnits {
		if !strings.HasSuffix(t, u.suffix) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), 64)
		if err != nil || v < 0 || v*float64(u.mult) > 1<<62 {
			break
		}
		return int64(v * float64(u.mult)), nil
	}
	return 0, fserr.Errorf("bench", fserr.Invalid, "bad size %q (want e.g. 1GiB, 512MiB, 4096)", s)
}

// FormatSize prints a byte count with a binary unit: "1GiB", "1.5MiB".
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	txt := strconv.FormatFloat(v, 'f', 2, 64)
	txt = strings.TrimSuffix(strings.TrimRight(txt, "0"), ".")
	return txt + units[i]
}
