package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot writes the report's charts into dir, each as SVG and PNG:
//
//	scaling      hits/s against tasks, per strategy (uprobe-nop, no churn)
//	fastpath-K   fast-path % against churn rate, per strategy, churn kind K
//	vmas         cost per hit against the number of VMAs, per strategy
//
// It returns the files written.
func (r *Report) Plot(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	save := func(p *plot.Plot, name string) error {
		for _, ext := range []string{".svg", ".png"} {
			f := filepath.Join(dir, name+ext)
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, f); err != nil {
				return err
			}
			files = append(files, f)
		}
		return nil
	}
	charts := []struct {
		name, title, x, y string
		logX              bool
		keep              func(Result) bool
		series            func(Result) string
		xy                func(Result) (float64, float64)
	}{
		{"scaling", "uprobe-nop: total throughput (1k VMAs, no churn)", "tasks", "hits/s", false,
			func(x Result) bool { return x.Workload == "uprobe-nop" && x.Churn == "none" && x.VMAs == 1000 },
			func(x Result) string { return x.Strategy },
			func(x Result) (float64, float64) { return float64(x.Tasks), x.HitsPerSec }},
		{"vmas", "uprobe-nop: cost per hit against address-space size (1 task)", "VMAs", "ns per hit", true,
			func(x Result) bool { return x.Workload == "uprobe-nop" && x.Churn == "none" && x.Tasks == 1 },
			func(x Result) string { return x.Strategy },
			func(x Result) (float64, float64) { return float64(x.VMAs), x.NsPerHit }},
	}
	for _, c := range Churns[1:] {
		c := c
		charts = append(charts, struct {
			name, title, x, y string
			logX              bool
			keep              func(Result) bool
			series            func(Result) string
			xy                func(Result) (float64, float64)
		}{"fastpath-" + c, fmt.Sprintf("uprobe-nop: fast path under %s churn", c), "writer ops/s (target rate)", "fast path %", true,
			func(x Result) bool { return x.Churn == c && x.Strategy != "locked" && !isBaseline(x.Strategy) },
			func(x Result) string { return x.Strategy },
			func(x Result) (float64, float64) { return float64(x.ChurnRate), x.FastPathPct }})
	}
	for _, c := range charts {
		series := map[string]plotter.XYs{}
		for _, x := range r.Results {
			if c.keep(x) {
				px, py := c.xy(x)
				series[c.series(x)] = append(series[c.series(x)], plotter.XY{X: px, Y: py})
			}
		}
		if len(series) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = c.x
		p.Y.Label.Text = c.y
		if c.logX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{}
		}
		if strings.HasPrefix(c.name, "fastpath") {
			lo := 100.0
			for _, xys := range series {
				for _, v := range xys {
					lo = min(lo, v.Y)
				}
			}
			p.Y.Min, p.Y.Max = max(0, lo-0.1*(100-lo)-0.01), 100+0.05*(100-lo)+0.001
			p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
				var ts []plot.Tick
				for i := 0; i <= 4; i++ {
					v := min + (max-min)*float64(i)/4
					ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%.3f", v)})
				}
				return ts
			})
		}
		names := make([]string, 0, len(series))
		for n := range series {
			names = append(names, n)
		}
		sort.Strings(names)
		var args []any
		for _, n := range names {
			xys := series[n]
			sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
			args = append(args, n, xys)
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return files, err
		}
		p.Legend.Top, p.Legend.Left = true, true
		if !strings.HasPrefix(c.name, "fastpath") {
			hi := 0.0
			for _, xys := range series {
				for _, v := range xys {
					hi = max(hi, v.Y)
				}
			}
			p.Y.Min, p.Y.Max = 0, hi*1.45 // room for the legend above the data
		}
		if err := save(p, c.name); err != nil {
			return files, err
		}
	}
	return files, nil
}
