/**
 * Monitoring: a function's calls, errors and p50/p95/p99 latency over time (GET
 * /api/v1/functions/{language_title}/stats, its buckets as charts), and /health at a glance, the
 * runtimes' endpoints included.
 */
import type { FunctionStats, HealthReport, StatsWindow } from '@lambda-microservice/client';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { loadCatalog, useConsole, useLoad } from '../api';
import { Chart, type ChartSeries } from '../components/chart';
import { ErrorView } from '../components/error-view';
import { StatusBadge, formatTime } from '../components/json-block';
import { SelectField } from '../components/select-field';
import { isPlainObject } from '../json';

const WINDOWS: readonly StatsWindow[] = ['15m', '1h', '6h', '24h', '7d'];
const HEALTH_REFRESH_MS = 10_000;

export function MonitoringView({ preset }: { readonly preset: string | undefined }) {
  const { client } = useConsole();
  // What can be charted: the catalog and what the caller's recent sessions ran.
  const titles = useLoad(async () => {
    const [catalog, sessions] = await Promise.all([loadCatalog(client), client.sessions.list({ limit: 100 }).catch(() => ({ sessions: [] }))]);
    return [...new Set([...sessions.sessions.map((s) => s.language_title), ...catalog.map((f) => f.language_title)])];
  }, [client]);
  const [chosen, setChosen] = useState(preset ?? '');
  // What is typed; it is chosen on change (Enter, leaving the field, picking from the list).
  const [typed, setTyped] = useState<string | undefined>();
  const [statsWindow, setStatsWindow] = useState<StatsWindow>('1h');
  const languageTitle = chosen || titles.data?.[0] || '';
  const stats = useLoad(() => (languageTitle ? client.functions.stats(languageTitle, statsWindow) : Promise.resolve(undefined)), [client, languageTitle, statsWindow]);

  return (
    <div>
      <h1>Monitoring</h1>
      <section class="panel" aria-labelledby="stats-heading">
        <h2 id="stats-heading">Function stats</h2>
        <div class="toolbar">
          <div class="field">
            <label for="stats-function">Function</label>
            <input
              id="stats-function"
              list="stats-functions"
              value={typed ?? languageTitle}
              onInput={(e) => setTyped(e.currentTarget.value)}
              onChange={(e) => {
                setChosen(e.currentTarget.value.trim());
                setTyped(undefined);
              }}
            />
            <datalist id="stats-functions">
              {(titles.data ?? []).map((t) => (
                <option key={t} value={t} />
              ))}
            </datalist>
          </div>
          <SelectField id="stats-window" label="Window" value={statsWindow} options={WINDOWS} onChange={(w) => w && setStatsWindow(w)} />
          <button type="button" onClick={stats.reload}>
            Refresh
          </button>
        </div>
        {stats.error ? <ErrorView error={stats.error} title="Stats" /> : null}
        {stats.data ? <StatsCharts stats={stats.data} /> : stats.loading ? <p class="hint">Loading…</p> : <p class="hint">Pick a function.</p>}
      </section>
      <HealthPanel />
    </div>
  );
}

function StatsCharts({ stats }: { readonly stats: FunctionStats }) {
  const { times, traffic, latency } = useMemo(() => {
    const buckets = stats.buckets;
    return {
      times: buckets.map((b) => Date.parse(b.start) / 1000),
      traffic: [
        { label: 'calls', color: '#2563eb', values: buckets.map((b) => b.calls), bars: true },
        { label: 'errors', color: '#dc2626', values: buckets.map((b) => b.errors), bars: true },
        { label: 'cache hits', color: '#16a34a', values: buckets.map((b) => b.cache_hits) },
      ] satisfies ChartSeries[],
      latency: [
        { label: 'p50', color: '#16a34a', values: buckets.map((b) => b.p50_ms) },
        { label: 'p95', color: '#d97706', values: buckets.map((b) => b.p95_ms) },
        { label: 'p99', color: '#dc2626', values: buckets.map((b) => b.p99_ms) },
      ] satisfies ChartSeries[],
    };
  }, [stats]);
  const ms = (value: number | null): string => (value === null ? '—' : `${value.toFixed(1)} ms`);
  return (
    <>
      <dl class="figures" aria-label={`Totals of ${stats.language_title}`}>
        <dt>Calls</dt>
        <dd>{stats.calls}</dd>
        <dt>Errors</dt>
        <dd>{stats.errors}</dd>
        <dt>Cache hits</dt>
        <dd>{stats.cache_hits}</dd>
        <dt>p50</dt>
        <dd>{ms(stats.p50_ms)}</dd>
        <dt>p95</dt>
        <dd>{ms(stats.p95_ms)}</dd>
        <dt>p99</dt>
        <dd>{ms(stats.p99_ms)}</dd>
      </dl>
      <p class="hint">
        {formatTime(stats.from)} to {formatTime(stats.to)}, buckets of {stats.bucket_seconds / 60} min
      </p>
      <div class="columns">
        <Chart title="Calls and errors" times={times} series={traffic} unit="calls" />
        <Chart title="Latency" times={times} series={latency} unit="ms" />
      </div>
    </>
  );
}

interface ComponentHealth {
  readonly name: string;
  readonly status: string;
  readonly facts: readonly string[];
  readonly endpoints: readonly { address: string; status: string; outstanding: unknown }[];
}

const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '?');

/** The report's components as rows: controller, postgres, redis, then one per runtime with its endpoints. */
function healthRows(report: HealthReport): ComponentHealth[] {
  const components = isPlainObject(report.components) ? report.components : {};
  const row = (name: string, value: unknown): ComponentHealth => {
    const c = isPlainObject(value) ? value : {};
    const facts = Object.entries(c)
      .filter(([key, v]) => key !== 'status' && key !== 'endpoints' && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
      .map(([key, v]) => `${key}: ${String(v)}`);
    const endpoints = Array.isArray(c.endpoints)
      ? c.endpoints.filter(isPlainObject).map((e) => ({ address: text(e.address), status: text(e.status), outstanding: e.outstanding }))
      : [];
    return { name, status: typeof c.status === 'string' ? c.status : 'unknown', facts, endpoints };
  };
  const rows: ComponentHealth[] = [];
  for (const [name, value] of Object.entries(components)) {
    if (name === 'runtimes' && isPlainObject(value)) for (const [language, runtime] of Object.entries(value)) rows.push(row(`runtime ${language}`, runtime));
    else rows.push(row(name, value));
  }
  return rows;
}

function HealthPanel() {
  const { client } = useConsole();
  const health = useLoad(() => client.health(), [client]);
  const { reload } = health;
  useEffect(() => {
    const timer = setInterval(reload, HEALTH_REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const report = health.data;
  return (
    <section class="panel" aria-labelledby="health-heading">
      <h2 id="health-heading">
        Health {report ? <StatusBadge status={String(report.status)} /> : null}
        {report ? <span class="hint"> version {String(report.version)}</span> : null}
      </h2>
      {health.error ? <ErrorView error={health.error} title="/health" /> : null}
      <ul class="cards" aria-label="Components">
        {report
          ? healthRows(report).map((c) => (
              <li class="card" key={c.name}>
                <span class="card-title">
                  {c.name} <StatusBadge status={c.status} />
                </span>
                {c.facts.length > 0 ? <p class="hint">{c.facts.join(' · ')}</p> : null}
                {c.endpoints.length > 0 ? (
                  <ul class="endpoints" aria-label={`${c.name} endpoints`}>
                    {c.endpoints.map((e) => (
                      <li key={e.address}>
                        <code>{e.address}</code> <StatusBadge status={e.status} /> {typeof e.outstanding === 'number' ? `${e.outstanding} in flight` : ''}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </li>
            ))
          : null}
      </ul>
    </section>
  );
}
