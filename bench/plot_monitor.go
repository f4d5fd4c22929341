package bench

import (
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotMonitor writes the monitor chart: the writer's p50, p99.9 and maximum
// (each the median over the runs) mmap/munmap latency with no monitor and
// with monitors using each maps reader in the model, then the live
// kernel's rows, of the main setting, as grouped bars on a log scale. It
// writes nothing when the report has no monitor rows.
func (r *Report) plotMonitor(dir string) ([]string, error) {
	if r.Monitor == nil || len(r.Monitor.Rows) == 0 {
		return nil, nil
	}
	rows := slices.Clone(r.Monitor.Rows)
	names := make([]string, 0, len(rows)+len(r.Monitor.Live))
	for _, row := range rows {
		names = append(names, "model\n"+row.Reader)
	}
	for _, row := range r.Monitor.Live {
		rows = append(rows, row)
		names = append(names, "live\n"+row.Reader)
	}
	p50, p999, pmax := make(plotter.Values, len(rows)), make(plotter.Values, len(rows)), make(plotter.Values, len(rows))
	hi := 0.0
	for i, row := range rows {
		p50[i], p999[i], pmax[i] = float64(row.WriterP50)/1e3, float64(row.WriterP999)/1e3, float64(row.WriterMax)/1e3
		hi = max(hi, p50[i], p999[i], pmax[i])
	}
	// A logarithmic axis (the medians are below a microsecond, the tails
	// in milliseconds): bars of log10(v/floor) from floor, a power of ten.
	lo := hi
	for _, vs := range []plotter.Values{p50, p999, pmax} {
		for _, v := range vs {
			if v > 0 {
				lo = min(lo, v)
			}
		}
	}
	floor := math.Pow(10, math.Floor(math.Log10(lo)))
	decades := math.Ceil(math.Log10(hi / floor))
	for _, vs := range []plotter.Values{p50, p999, pmax} {
		for i, v := range vs {
			vs[i] = math.Log10(max(v, floor) / floor)
		}
	}
	p := plot.New()
	p.Title.Text = "writer's mmap/munmap latency against maps monitors\n" + r.Monitor.Arrangement.short()
	p.Y.Label.Text = "writer latency (µs, log scale)"
	p.X.Label.Text = "the monitors' maps reader (model) or file (live kernel); none: the writer alone"
	w := vg.Points(12)
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(5)
	for i, s := range []struct {
		name string
		vs   plotter.Values
		col  color.Color
	}{{"p50", p50, color.RGBA{0, 114, 178, 255}}, {"p99.9", p999, color.RGBA{0, 158, 115, 255}}, {"max (median\nof the runs)", pmax, color.RGBA{213, 94, 0, 255}}} {
		b, err := plotter.NewBarChart(s.vs, w)
		if err != nil {
			return nil, err
		}
		b.Color, b.LineStyle.Width = s.col, 0
		b.Offset = w * vg.Length(i-1)
		p.Add(b)
		leg.Add(s.name, b)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4
	p.Y.Min, p.Y.Max = 0, decades
	p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		for k := 0.0; k <= max+1e-9; k++ {
			ts = append(ts, plot.Tick{Value: k, Label: trimFloat(floor * math.Pow(10, k))})
		}
		return ts
	})
	p.Add(plotter.NewGrid())
	var files []string
	for _, ext := range []string{".svg", ".png"} {
		f := filepath.Join(dir, "monitor"+ext)
		if err := save(p, leg, f); err != nil {
			return files, err
		}
		files = append(files, f)
	}
	return files, nil
}
