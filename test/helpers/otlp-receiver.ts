/**
 * A local OTLP/HTTP trace receiver (what a collector's otlphttp receiver does, minus the rest):
 * accepts `POST /v1/traces` as the OpenTelemetry exporters send it (JSON, optionally gzipped),
 * keeps every span with its resource's service.name, answers an empty ExportTraceServiceResponse.
 * Payloads it cannot read (protobuf, bad JSON) are answered 4xx and recorded in `rejected`, so a
 * test can assert that none arrived.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** OTLP SpanKind numbers (opentelemetry/proto/trace/v1/trace.proto). */
export const OtlpSpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
/** OTLP Status codes. */
export const OtlpStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface ReceivedSpan {
  readonly serviceName: string | undefined;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly scope: string | undefined;
  readonly traceId: string;
  readonly spanId: string;
  /** Undefined for a root span. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status: { readonly code: number; readonly message: string | undefined };
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly url: string;
  /** Every span received so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Export requests accepted so far. */
  exports(): number;
  /** Requests refused (wrong path, content type, undecodable body), with the reason. */
  rejected(): string[];
  /** Polls (bounded) until `select` over the received spans returns something truthy, and returns that. */
  waitFor<T>(what: string, select: (spans: ReceivedSpan[]) => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number; message?: string };
}
interface OtlpExportRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

function anyValue(value: OtlpAnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(anyValue);
  if (value.kvlistValue) return attributes(value.kvlistValue.values);
  return value.bytesValue;
}

function attributes(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

/** OTLP/JSON ids are hex; an absent or empty parent id means a root span. */
function flatten(request: OtlpExportRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          serviceName: typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined,
          resource,
          scope: ss.scope?.name,
          traceId: span.traceId.toLowerCase(),
          spanId: span.spanId.toLowerCase(),
          parentSpanId: span.parentSpanId ? span.parentSpanId.toLowerCase() : undefined,
          name: span.name,
          kind: span.kind ?? OtlpSpanKind.UNSPECIFIED,
          attributes: attributes(span.attributes),
          status: { code: span.status?.code ?? OtlpStatusCode.UNSET, message: span.status?.message },
        });
      }
    }
  }
  return out;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const rejected: string[] = [];
  let exports = 0;

  const refuse = (response: ServerResponse, status: number, reason: string): void => {
    rejected.push(reason);
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, message: reason }));
  };

  const server = createServer((request, response) => {
    void (async () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') return refuse(response, 404, `${request.method} ${request.url}`);
      let body = await readBody(request);
      if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const type = String(request.headers['content-type'] ?? '');
      if (!type.startsWith('application/json')) return refuse(response, 415, `content-type ${type} (this receiver reads OTLP/JSON)`);
      let parsed: OtlpExportRequest;
      try {
        parsed = JSON.parse(body.toString('utf8')) as OtlpExportRequest;
      } catch (error) {
        return refuse(response, 400, `body is not JSON: ${(error as Error).message}`);
      }
      received.push(...flatten(parsed));
      exports++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    })().catch((error: unknown) => refuse(response, 500, String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    exports: () => exports,
    rejected: () => [...rejected],
    async waitFor(what, select, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = select([...received]);
        if (found) return found;
        if (Date.now() > deadline) {
          const seen = received.map((s) => `${s.serviceName} ${s.name} ${s.traceId}/${s.spanId}<-${s.parentSpanId ?? 'root'}`).join('\n  ');
          throw new Error(`no ${what} within ${timeoutMs} ms; received:\n  ${seen}\nrejected: ${rejected.join('; ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
