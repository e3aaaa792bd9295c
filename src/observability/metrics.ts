/** Prometheus metrics (prom-client), one registry per service instance so tests do not share state. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly errors: Counter<'code'>;
  readonly executions: Counter<'language' | 'outcome'>;
  readonly executionDuration: Histogram<'language'>;
  readonly sessionsCreated: Counter<'language'>;
  readonly activeSessions: Gauge;
  readonly logQueueDepth: Gauge<'writer'>;
  readonly logRowsDropped: Counter<'writer'>;
  readonly logRowsWritten: Counter<'writer'>;
  /** Executes refused by admission control, by the bound that was full (service, function, session). */
  readonly executesShed: Counter<'scope'>;
  /** Counts a result cache hit / miss (and keeps the hit ratio). */
  cacheHit(): void;
  cacheMiss(): void;
}

export interface MetricsOptions {
  /** Sampled when /metrics is scraped. */
  readonly activeSessions: () => number;
  readonly logQueueDepth: () => Readonly<Record<string, number>>;
  /** Executes admitted and not finished, sampled at scrape time. */
  readonly executesInFlight?: () => number;
  /** 1 up, 0 down, per dependency (postgres, redis), sampled at scrape time. */
  readonly dependencies: () => Promise<Readonly<Record<string, boolean>>>;
  /** Remote runtime endpoints (src/rpc/runtime-pool.ts), sampled at scrape time; none when every runtime is in-process. */
  readonly runtimeEndpoints?: () => RuntimeEndpointSample;
  readonly defaultMetrics?: boolean;
}

export interface RuntimeEndpointSample {
  readonly endpoints: readonly { readonly language: string; readonly address: string; readonly up: boolean; readonly inFlight: number }[];
  /** Calls tried again on another endpoint since start, per language. */
  readonly retries: Readonly<Record<string, number>>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'lambda_' });
  let hits = 0;
  let misses = 0;
  const cacheHits = new Counter({ name: 'lambda_cache_hits_total', help: 'Executes answered from the result cache', registers: [registry] });
  const cacheMisses = new Counter({ name: 'lambda_cache_misses_total', help: 'Executes that ran the script (cacheable, not found in the result cache)', registers: [registry] });
  new Gauge({
    name: 'lambda_cache_hit_ratio',
    help: 'Result cache hits / (hits + misses) since start',
    registers: [registry],
    collect() {
      this.set(hits + misses === 0 ? 0 : hits / (hits + misses));
    },
  });
  new Gauge({
    name: 'lambda_dependency_up',
    help: 'Whether a dependency answers (1) or not (0)',
    labelNames: ['dependency'],
    registers: [registry],
    async collect() {
      for (const [dependency, up] of Object.entries(await options.dependencies())) this.set({ dependency }, up ? 1 : 0);
    },
  });
  const sampleInFlight = options.executesInFlight;
  if (sampleInFlight) {
    new Gauge({
      name: 'lambda_executes_in_flight',
      help: 'Executes admitted and not yet answered (bounded by MAX_CONCURRENT_EXECUTES)',
      registers: [registry],
      collect() {
        this.set(sampleInFlight());
      },
    });
  }
  const sampleEndpoints = options.runtimeEndpoints;
  if (sampleEndpoints) {
    new Gauge({
      name: 'lambda_runtime_endpoint_up',
      help: 'Whether a runtime endpoint (a local runtime process or a remote runtime server) takes calls (1; a restarting runtime process does: they wait for it) or is ejected or unreachable (0)',
      labelNames: ['language', 'address'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of sampleEndpoints().endpoints) this.set({ language: e.language, address: e.address }, e.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lambda_runtime_endpoint_in_flight',
      help: 'Calls in flight on a runtime endpoint (a local runtime process or a remote runtime server)',
      labelNames: ['language', 'address'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of sampleEndpoints().endpoints) this.set({ language: e.language, address: e.address }, e.inFlight);
      },
    });
    new Counter({
      name: 'lambda_runtime_call_retries_total',
      help: 'Calls that never reached a runtime endpoint and were tried on another',
      labelNames: ['language'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [language, n] of Object.entries(sampleEndpoints().retries)) this.inc({ language }, n);
      },
    });
  }
  return {
    cacheHit() {
      hits++;
      cacheHits.inc();
    },
    cacheMiss() {
      misses++;
      cacheMisses.inc();
    },
    registry,
    httpRequests: new Counter({
      name: 'lambda_http_requests_total',
      help: 'HTTP requests answered, by route template and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'lambda_http_request_duration_seconds',
      help: 'HTTP request latency from arrival to reply',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'lambda_errors_total',
      help: 'Error replies by contract error code (the error rate is this over lambda_http_requests_total)',
      labelNames: ['code'],
      registers: [registry],
    }),
    executions: new Counter({
      name: 'lambda_executions_total',
      help: 'Script invocations by language and outcome (ok, error, timeout, memory_limit, output_limit)',
      labelNames: ['language', 'outcome'],
      registers: [registry],
    }),
    executionDuration: new Histogram({
      name: 'lambda_runtime_execution_seconds',
      help: 'Time spent in the runtime per invocation, by language',
      labelNames: ['language'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    sessionsCreated: new Counter({
      name: 'lambda_sessions_created_total',
      help: 'Sessions created by initialize (its rate is the session creation rate)',
      labelNames: ['language'],
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'lambda_active_sessions',
      help: 'Sessions active and not expired, as of the last sweep',
      registers: [registry],
      collect() {
        this.set(options.activeSessions());
      },
    }),
    logQueueDepth: new Gauge({
      name: 'lambda_log_queue_depth',
      help: 'Rows waiting to be written to PostgreSQL, by writer',
      labelNames: ['writer'],
      registers: [registry],
      collect() {
        for (const [writer, depth] of Object.entries(options.logQueueDepth())) this.set({ writer }, depth);
      },
    }),
    logRowsDropped: new Counter({
      name: 'lambda_log_rows_dropped_total',
      help: 'Rows dropped because the write queue was full',
      labelNames: ['writer'],
      registers: [registry],
    }),
    logRowsWritten: new Counter({
      name: 'lambda_log_rows_written_total',
      help: 'Rows written to PostgreSQL by the write-behind, by writer',
      labelNames: ['writer'],
      registers: [registry],
    }),
    executesShed: new Counter({
      name: 'lambda_executes_shed_total',
      help: 'Executes refused at once with 429 because a concurrency bound was full, by bound (service, function, session)',
      labelNames: ['scope'],
      registers: [registry],
    }),
  };
}
