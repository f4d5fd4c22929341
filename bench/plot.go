package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one figure: which results it shows, and how.
type chart struct {
	name, title string
	x, y        axisKind
	keep        func(Result) bool
	xy          func(Result) (float64, float64)
}

// axisKind is what an axis measures, which decides its scale, range and
// tick labels.
type axisKind struct {
	label string
	kind  int
}

const (
	linearCount = iota // small integers (tasks): a tick at each integer
	logCount           // counts over decades (VMAs, rates): log scale, a tick at each measured value
	millions           // rates in millions from 0
	fromZero           // a quantity from 0 (ns)
	percent            // 0 to 100
	durationNs         // a latency in ns from 0, labelled in µs
)

// charts lists the report's figures.
func charts() []chart {
	nop := func(x Result) bool { return x.Workload == UprobeNop }
	cs := []chart{
		{"scaling", "uprobe-nop: total throughput (1k VMAs, no churn)",
			axisKind{"tasks", linearCount}, axisKind{"M hits/s (all tasks)", millions},
			func(x Result) bool { return nop(x) && x.Churn == NoChurn && x.VMAs == 1000 },
			func(x Result) (float64, float64) { return float64(x.Tasks), x.HitsPerSec }},
		{"vmas", "uprobe-nop: cost per hit against address-space size (1 task)",
			axisKind{"VMAs in the address space", logCount}, axisKind{"ns per hit", fromZero},
			func(x Result) bool {
				return nop(x) && x.Churn == NoChurn && x.Tasks == 1 && (!x.Strategy.Baseline() || x.Strategy == Unsync)
			},
			func(x Result) (float64, float64) { return float64(x.VMAs), x.NsPerHit }},
		{"writer-unrelated", "writer: mmap/munmap latency under unrelated churn, by readers' strategy",
			axisKind{"writer operations per second (target)", logCount}, axisKind{"writer p50 (µs)", durationNs},
			func(x Result) bool { return nop(x) && x.Churn == Unrelated },
			func(x Result) (float64, float64) { return float64(x.Rate), x.WriterP50 }},
	}
	for _, c := range []Churn{Unrelated, SameVMA, Probes} {
		cs = append(cs, chart{"fastpath-" + c.String(), fmt.Sprintf("uprobe-nop: hits resolved without the lock, %s churn", c),
			axisKind{"writer operations per second (target)", logCount}, axisKind{"fast path (% of hits)", percent},
			func(x Result) bool { return nop(x) && x.Churn == c },
			func(x Result) (float64, float64) { return float64(x.Rate), x.FastPathPct }})
	}
	return cs
}

// style is a strategy's colour, marker and marker size, the same in every
// chart. The colours are Okabe and Ito's palette, which stays distinct for
// colour-blind readers; the markers tell strategies apart in grey; and
// the sizes differ, hollow markers larger than filled ones, so that
// strategies meeting at one point (every speculative strategy at 100%
// fast path) stay visible one inside the other.
func style(s Strategy) (color.Color, draw.GlyphDrawer, vg.Length) {
	switch s {
	case Locked:
		return color.RGBA{213, 94, 0, 255}, draw.SquareGlyph{}, vg.Points(6) // vermillion
	case MMSeq:
		return color.RGBA{0, 114, 178, 255}, draw.RingGlyph{}, vg.Points(7) // blue
	case VMASeq:
		return color.RGBA{0, 158, 115, 255}, draw.TriangleGlyph{}, vg.Points(5) // green
	case VMALock:
		return color.RGBA{204, 121, 167, 255}, draw.BoxGlyph{}, vg.Points(2.5) // purple
	case RWMutexBTree:
		return color.RGBA{230, 159, 0, 255}, draw.CrossGlyph{}, vg.Points(5) // orange
	case RWMutexSnapshot:
		return color.RGBA{86, 180, 233, 255}, draw.PlusGlyph{}, vg.Points(5) // sky blue
	}
	return color.Black, draw.CircleGlyph{}, vg.Points(3) // unsync
}

// Plot writes the report's charts into dir, each as SVG and PNG:
//
//	scaling           hits/s against tasks, per strategy (uprobe-nop, no churn)
//	vmas              cost per hit against the number of VMAs, per strategy
//	fastpath-K        fast path % against churn rate, per strategy, churn kind K
//	writer-unrelated  the writer's p50 latency against its rate, per readers' strategy
//	monitor           the writer's p50/p99 with monitors reading maps, per maps reader
//
// A chart with no results in the report is left out. It returns the
// files written.
func (r *Report) Plot(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, c := range charts() {
		series := map[Strategy]plotter.XYs{}
		for _, x := range r.Results {
			if c.keep(x) {
				px, py := c.xy(x)
				series[x.Strategy] = append(series[x.Strategy], plotter.XY{X: px, Y: py})
			}
		}
		if len(series) == 0 {
			continue
		}
		p, leg, err := c.build(series)
		if err != nil {
			return files, err
		}
		for _, ext := range []string{".svg", ".png"} {
			f := filepath.Join(dir, c.name+ext)
			if err := save(p, leg, f); err != nil {
				return files, err
			}
			files = append(files, f)
		}
	}
	mf, err := r.plotMonitor(dir)
	return append(files, mf...), err
}

// build draws a chart's series into a plot, and a legend to go beside it.
func (c chart) build(series map[Strategy]plotter.XYs) (*plot.Plot, plot.Legend, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text, p.Y.Label.Text = c.x.label, c.y.label
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(5)
	leg.ThumbnailWidth = vg.Points(26)
	var xs, ys []float64
	strats := make([]Strategy, 0, len(series))
	for s := range series {
		strats = append(strats, s)
	}
	slices.Sort(strats)
	type drawn struct {
		line   *plotter.Line
		points *plotter.Scatter
	}
	ds := map[Strategy]drawn{}
	for _, s := range strats {
		xys := series[s]
		slices.SortFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, leg, err
		}
		col, glyph, r := style(s)
		line.Color, line.Width = col, vg.Points(1.5)
		points.Color, points.Shape, points.Radius = col, glyph, r
		ds[s] = drawn{line, points}
		leg.Add(s.String(), line, points)
		for _, v := range xys {
			xs, ys = append(xs, v.X), append(ys, v.Y)
		}
	}
	// Large markers first, so that smaller ones on the same point show.
	bySize := slices.Clone(strats)
	slices.SortStableFunc(bySize, func(a, b Strategy) int { return cmpFloat(float64(ds[b].points.Radius), float64(ds[a].points.Radius)) })
	for _, s := range bySize {
		p.Add(ds[s].line, ds[s].points)
	}
	c.x.apply(&p.X, xs)
	c.y.apply(&p.Y, ys)
	p.Add(plotter.NewGrid())
	return p, leg, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// apply sets an axis's scale, range and ticks for the values shown on it.
// Ranges start at zero for quantities (so that a ratio reads off the
// chart as it is), span the full 0–100 for percentages, and leave room
// around the outermost points for their markers.
func (k axisKind) apply(a *plot.Axis, vs []float64) {
	lo, hi := slices.Min(vs), slices.Max(vs)
	switch k.kind {
	case linearCount:
		a.Min, a.Max = lo-0.5, hi+0.5
		var ts plot.ConstantTicks
		for v := math.Ceil(lo); v <= hi; v++ {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		a.Tick.Marker = ts
	case logCount:
		a.Scale = plot.LogScale{}
		a.Min, a.Max = lo/2, hi*2
		var ts plot.ConstantTicks
		seen := map[float64]bool{}
		for _, v := range vs {
			if !seen[v] {
				seen[v] = true
				ts = append(ts, plot.Tick{Value: v, Label: si(v)})
			}
		}
		slices.SortFunc(ts, func(a, b plot.Tick) int { return cmpFloat(a.Value, b.Value) })
		a.Tick.Marker = ts
	case percent:
		a.Min, a.Max = -4, 104
		var ts plot.ConstantTicks
		for v := 0.0; v <= 100; v += 20 {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		a.Tick.Marker = ts
	default:
		a.Min, a.Max = 0, hi*1.12
		scale := 1.0
		switch k.kind {
		case millions:
			scale = 1e6
		case durationNs:
			scale = 1e3
		}
		a.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
			var ts []plot.Tick
			step := niceStep((max - min) / scale / 5)
			for v := 0.0; v <= max/scale+step/1e6; v += step {
				ts = append(ts, plot.Tick{Value: v * scale, Label: trimFloat(v)})
			}
			return ts
		})
	}
}

// trimFloat prints a tick value with no more digits than it has.
func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten, so
// that every tick has a short label.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// The canvas: the plot on the left, its legend in a column on the right
// where it cannot cover data.
const (
	chartW  = 8 * vg.Inch
	chartH  = 4.5 * vg.Inch
	legendW = 1.9 * vg.Inch
)

// save writes the plot and its legend to file, as SVG or PNG by extension.
func save(p *plot.Plot, leg plot.Legend, file string) error {
	var (
		c  vg.CanvasSizer
		wt io.WriterTo
	)
	switch filepath.Ext(file) {
	case ".svg":
		sc := vgsvg.New(chartW, chartH)
		c, wt = sc, sc
	default:
		ic := vgimg.NewWith(vgimg.UseWH(chartW, chartH), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
		c, wt = ic, vgimg.PngCanvas{Canvas: ic}
	}
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, vg.Points(4), -legendW, vg.Points(4), -vg.Points(8)))
	lc := draw.Crop(dc, chartW-legendW+vg.Points(6), 0, 0, -vg.Points(30))
	leg.Draw(lc)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
