/** A uPlot time-series chart, redrawn when its data change and resized with its box. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
  readonly bars?: boolean;
}

export interface ChartProps {
  readonly title: string;
  /** Unix seconds of each point. */
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  readonly unit: string;
}

export function Chart({ title, times, series, unit }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const options: uPlot.Options = {
      title,
      width: Math.max(320, element.clientWidth),
      height: 240,
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 0) * 1.1)] } },
      axes: [{}, { label: unit, size: 60 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          spanGaps: false,
          // Bars for counts; lines with points for figures that may have gaps (a bucket without calls has no latency).
          ...(s.bars ? { fill: `${s.color}55`, paths: uPlot.paths.bars?.({ size: [0.7, 24] }), points: { show: false } } : { points: { show: true, size: 5 } }),
        })),
      ],
    };
    const data: uPlot.AlignedData = [Float64Array.from(times), ...series.map((s) => s.values.map((v) => v))];
    const plot = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(320, element.clientWidth), height: 240 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [title, times, series, unit]);
  return (
    <figure class="chart" aria-label={title} data-points={String(times.length)}>
      <div ref={host} />
    </figure>
  );
}
