/**
 * Tracing across the gRPC hop: the controller (in-process) and a Node.js runtime server (its own
 * process) both export to a local OTLP/HTTP receiver; one execute must be one trace, the runtime
 * server's span a child of the controller's gRPC client span. Without an endpoint nothing is
 * exported and a caller's traceparent still reaches the runtime server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { RunningService } from '../../src/main/service.js';
import { OtlpSpanKind, OtlpStatusCode, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startRuntimeProcess, type RuntimeProcess } from '../helpers/process.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const RPC_SERVICE = 'lambda.runtime.v1.RuntimeService';

function one(spans: ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(match);
  assert.equal(found.length, 1, `exactly one ${what}; got ${found.length}: ${JSON.stringify(found, null, 1)}`);
  return found[0]!;
}

describe('tracing across the gRPC hop (OTLP/HTTP export)', () => {
  let receiver: OtlpReceiver;
  let runtime: RuntimeProcess;
  let db: TestDatabase;
  let service: RunningService | undefined;

  /** What the two controller runs leave for the last test, which sees the runtime's spans. */
  const traced = { traceId: hex(16), failParent: hex(8), execParent: hex(8), clientExecute: '', clientPrepare: '', rootTraceId: '' };
  const untraced = { traceId: hex(16), execParent: hex(8) };

  before(async () => {
    receiver = await startOtlpReceiver();
    [runtime, db] = await Promise.all([
      // Default batching (5 s): its spans must arrive through the flush on SIGTERM.
      startRuntimeProcess('nodejs', 0, { NODEJS_POOL_SIZE: '1', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'test-runtime' }),
      createTestDatabase(),
    ]);
  });
  after(async () => {
    await service?.stop();
    await runtime?.stop('SIGKILL');
    await db?.drop();
    await receiver?.close();
  });

  it('without an endpoint: the controller exports nothing, answers as usual, and hands the caller traceparent on unchanged', async () => {
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_RUNTIME_URL: runtime.address, OTEL_SERVICE_NAME: 'test-controller-off' });
    const traceparent = `00-${untraced.traceId}-${untraced.execParent}-01`;
    const init = await initialize(service, 'nodejs-sum', { script_content: 'return event.params.a + event.params.b;' });
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const run = await execute(service, init.body.request_id, { a: 1, b: 2 }, { traceparent });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.result, 3);
    assert.equal(run.headers.traceresponse, undefined, 'nothing recorded here: no trace of ours to name');
    // A malformed traceparent is ignored, not an error.
    const bad = await execute(service, init.body.request_id, { a: 2, b: 2 }, { traceparent: '00-zz-not-a-trace' });
    assert.equal(bad.status, 200);
    await service.stop(); // would flush, if there were anything to export
    service = undefined;
    assert.deepEqual(
      receiver.spans().filter((s) => s.serviceName === 'test-controller-off'),
      [],
    );
  });

  it('with an endpoint: HTTP server span -> runtime.execute -> gRPC client span, continuing the incoming trace', async () => {
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_RUNTIME_URL: runtime.address, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'test-controller' });
    const init = await initialize(service, 'nodejs-sum', { script_content: 'return event.params.a * event.params.b;' });
    assert.equal(init.status, 200);
    // initialize without traceparent starts a trace of its own; execute continues the caller's.
    const run = await execute(service, init.body.request_id, { a: 6, b: 7 }, { traceparent: `00-${traced.traceId}-${traced.execParent}-01` });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.result, 42);
    const traceresponse = String(run.headers.traceresponse);
    assert.match(traceresponse, new RegExp(`^00-${traced.traceId}-[0-9a-f]{16}-01$`));
    // A 5xx (the script throws) marks its server span failed.
    const thrower = await call(service, 'POST', '/api/v1/initialize', {
      body: { script_content: 'throw new Error("boom");' },
      headers: { 'language-title': 'nodejs-thrower', traceparent: `00-${traced.traceId}-${hex(8)}-01` },
    });
    const failed = await execute(service, thrower.body.request_id, {}, { traceparent: `00-${traced.traceId}-${traced.failParent}-01` });
    assert.equal(failed.status, 500);

    await service.stop(); // flushes the batch
    service = undefined;
    const spans = await receiver.waitFor('controller spans', (all) => {
      const mine = all.filter((s) => s.serviceName === 'test-controller');
      return mine.filter((s) => s.kind === OtlpSpanKind.SERVER).length >= 4 && mine;
    });
    assert.deepEqual(receiver.rejected(), []);

    const inTrace = spans.filter((s) => s.traceId === traced.traceId);
    const server = one(inTrace, 'execute server span', (s) => s.kind === OtlpSpanKind.SERVER && s.parentSpanId === traced.execParent);
    assert.equal(server.name, 'POST /api/v1/execute/:requestId');
    assert.equal(server.attributes['http.route'], '/api/v1/execute/:requestId');
    assert.equal(server.attributes['http.request.method'], 'POST');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.status.code, OtlpStatusCode.UNSET);
    assert.equal(traceresponse, `00-${traced.traceId}-${server.spanId}-01`, 'traceresponse names the server span');
    const internal = one(inTrace, 'runtime.execute span', (s) => s.parentSpanId === server.spanId);
    assert.equal(internal.name, 'runtime.execute');
    assert.equal(internal.kind, OtlpSpanKind.INTERNAL);
    assert.equal(internal.attributes['lambda.execution.status'], 'ok');
    const client = one(inTrace, 'gRPC client span', (s) => s.parentSpanId === internal.spanId);
    assert.equal(client.name, `${RPC_SERVICE}/Execute`);
    assert.equal(client.kind, OtlpSpanKind.CLIENT);
    assert.equal(client.attributes['rpc.system'], 'grpc');
    assert.equal(client.attributes['rpc.service'], RPC_SERVICE);
    assert.equal(client.attributes['rpc.method'], 'Execute');
    assert.equal(client.attributes['server.address'], runtime.address.replace(/:\d+$/, ''));
    assert.equal(client.attributes['rpc.grpc.status_code'], 0);
    traced.clientExecute = client.spanId;

    const failedServer = one(inTrace, 'failed execute server span', (s) => s.kind === OtlpSpanKind.SERVER && s.parentSpanId === traced.failParent);
    assert.equal(failedServer.attributes['http.response.status_code'], 500);
    assert.equal(failedServer.attributes['lambda.error.code'], 'RUNTIME_ERROR');
    assert.equal(failedServer.status.code, OtlpStatusCode.ERROR);

    // The initialize made a root trace: server span -> runtime.prepare -> Prepare client span.
    const initServer = one(spans, 'initialize server span', (s) => s.name === 'POST /api/v1/initialize' && s.parentSpanId === undefined && s.traceId !== traced.traceId);
    const prepare = one(spans, 'runtime.prepare span', (s) => s.name === 'runtime.prepare' && s.parentSpanId === initServer.spanId);
    const clientPrepare = one(spans, 'Prepare client span', (s) => s.name === `${RPC_SERVICE}/Prepare` && s.parentSpanId === prepare.spanId);
    traced.clientPrepare = clientPrepare.spanId;
    traced.rootTraceId = initServer.traceId;
    assert.ok(
      spans.every((s) => !s.name.endsWith('/HealthCheck')),
      'background health polls make no spans',
    );
    assert.equal(server.resource['service.version'], 'test');
  });

  it('refuses an endpoint that is not an http(s) URL at start', () => {
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' }), (e: unknown) => e instanceof ConfigError && /OTEL_EXPORTER_OTLP_ENDPOINT/.test(e.message));
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).tracing.otlpEndpoint, 'http://otel-collector:4318');
    assert.equal(loadConfig({}).tracing.serviceName, undefined, 'each entry point names itself');
  });

  it("the runtime server's spans (its own process, flushed on SIGTERM) are children of the controller's client spans", async () => {
    assert.equal(await runtime.stop('SIGTERM'), 0, runtime.output());
    const spans = await receiver.waitFor('runtime server spans', (all) => {
      const mine = all.filter((s) => s.serviceName === 'test-runtime');
      return mine.some((s) => s.traceId === traced.traceId) && mine.some((s) => s.traceId === untraced.traceId) && mine;
    });
    assert.deepEqual(receiver.rejected(), []);
    const execute = one(spans, 'runtime Execute span in the traced run', (s) => s.traceId === traced.traceId && s.parentSpanId === traced.clientExecute);
    assert.equal(execute.name, `${RPC_SERVICE}/Execute`);
    assert.equal(execute.kind, OtlpSpanKind.SERVER);
    assert.equal(execute.attributes['rpc.grpc.status_code'], 0);
    assert.equal(execute.resource['lambda.runtime.language'], 'nodejs');
    const prepare = one(spans, 'runtime Prepare span', (s) => s.traceId === traced.rootTraceId && s.parentSpanId === traced.clientPrepare);
    assert.equal(prepare.name, `${RPC_SERVICE}/Prepare`);

    // The untraced controller recorded nothing, so the caller's own span is the runtime span's parent.
    const passedOn = one(spans, 'runtime Execute span of the untraced run', (s) => s.traceId === untraced.traceId);
    assert.equal(passedOn.parentSpanId, untraced.execParent);
    assert.ok(
      spans.every((s) => !s.name.endsWith('/HealthCheck')),
      'health polls from outside any trace make no spans',
    );
  });
});
