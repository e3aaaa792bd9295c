/**
 * The Node.js runtime as the service sees it: scripts that need a bundle (ES modules, TypeScript,
 * npm `dependencies`; script-bundler.ts) are bundled here, in the service, and the runtime behind
 * (a pool of runtime processes or of remote servers) is sent the bundle, a plain CommonJS module.
 * Bundles are kept by a hash of what they are built from (the script, its packages' versions in
 * the store, the bundler) in memory and in the module store (PostgreSQL), so a replica or a
 * restart reuses a bundle another built. The runtime knows a bundled script by a hash of its own,
 * so that a package upgraded in the store makes a new script, not a stale one; a call whose script
 * this replica has not bundled answers `not_prepared`, and its caller prepares it again here.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';

import type { Logger } from '../../../observability/logger.js';
import { roundMs } from '../../kit/invocation.js';
import type { ModuleStore } from '../../kit/module-store.js';
import { SingleFlight } from '../../kit/single-flight.js';
import type { CompileFailure, ExecuteRequest, InvocationResult, Language, PrepareRequest, PrepareResult, Runtime, RuntimeHealth } from '../../runtime.js';
import { platformBundle } from '../platform-bundle.js';
import { checkDependencies, type PackageStore, type StoredPackage } from './package-store.js';
import { BUNDLER_TOOLCHAIN, bundleScript, isEsModule, type Bundle } from './script-bundler.js';
import { BundleMapper } from './source-map.js';

export interface BundlingOptions {
  readonly store: PackageStore;
  readonly modules: ModuleStore;
  readonly maxBundleBytes: number;
  readonly timeoutMs: number;
  readonly cacheBytes: number;
  readonly logger: Logger;
}

/** What a script asks of the bundler (its compile options): TypeScript, and its npm packages. */
interface BundlePlan {
  readonly typescript: boolean;
  readonly dependencies: Readonly<Record<string, string>>;
}

/** Bundled scripts whose runtime hash this replica remembers. */
const MAX_REMEMBERED_SCRIPTS = 100_000;
/** Bundles whose errors can be mapped back (a parsed map of a large bundle is a few MB). */
const MAX_MAPPERS = 64;

/** The plan of a script that needs a bundle, undefined for one V8 runs as it is, or why its options are wrong. */
export function bundlePlan(source: string, options: Readonly<Record<string, unknown>> | undefined): BundlePlan | CompileFailure | undefined {
  const typescript = options?.typescript === true;
  let dependencies: Readonly<Record<string, string>> = {};
  if (options?.dependencies !== undefined) {
    const checked = checkDependencies(options.dependencies);
    if (!checked.ok) return { kind: 'DependencyError', message: checked.message };
    dependencies = checked.dependencies;
  }
  if (!typescript && Object.keys(dependencies).length === 0 && !isEsModule(source)) return undefined;
  return { typescript, dependencies };
}

function isFailure(value: BundlePlan | CompileFailure): value is CompileFailure {
  return 'kind' in value;
}

export class BundlingRuntime implements Runtime {
  readonly language: Language;
  readonly #inner: Runtime;
  readonly #o: BundlingOptions;
  /** Bundles by their key (what they are built from). */
  readonly #bundles: LRUCache<string, Bundle>;
  /** The session's script hash → the hash the runtime knows its bundle by. */
  readonly #runtimeHashes = new LRUCache<string, string>({ max: MAX_REMEMBERED_SCRIPTS });
  /** The runtime's hash of a bundle → what maps its errors back to the script (its map parsed on the first error). */
  readonly #mappers = new LRUCache<string, BundleMapper>({ max: MAX_MAPPERS });
  readonly #building = new SingleFlight<string, Bundle | CompileFailure>();
  readonly #counts = { built: 0, storeHits: 0, memoryHits: 0, failures: 0 };

  constructor(inner: Runtime, options: BundlingOptions) {
    this.#inner = inner;
    this.language = inner.language;
    this.#o = options;
    this.#bundles = new LRUCache({ maxSize: options.cacheBytes, sizeCalculation: (bundle) => Math.max(1, (bundle.code.length + bundle.map.length) * 2) });
  }

  async start(): Promise<void> {
    // The runtime processes read the platform bundle; they cannot build it.
    await Promise.all([platformBundle(), this.#o.store.ensure()]);
    await this.#inner.start();
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }

  health(): RuntimeHealth {
    const health = this.#inner.health();
    return { ...health, details: { ...health.details, bundles: { cached: this.#bundles.size, built: this.#counts.built, memory_hits: this.#counts.memoryHits, store_hits: this.#counts.storeHits, failures: this.#counts.failures } } };
  }

  status(): RuntimeHealth['status'] {
    return this.#inner.status?.() ?? this.#inner.health().status;
  }

  release(instanceKey: string): void {
    this.#inner.release(instanceKey);
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const plan = bundlePlan(request.source, request.compileOptions);
    if (plan === undefined) return this.#inner.prepare(request);
    if (isFailure(plan)) return { ok: false, error: plan };
    const started = performance.now();
    const resolved = await this.#o.store.resolve(plan.dependencies);
    if (!resolved.ok) return { ok: false, error: { kind: 'DependencyError', message: resolved.message } };
    const key = bundleKey(request.source, plan, resolved.packages);
    const bundle = await this.#building.run(key, () => this.#bundle(key, request.source, plan, resolved.packages));
    if ('kind' in bundle) return { ok: false, error: bundle };
    const runtimeHash = createHash('sha256').update(request.scriptHash).update('\0').update(key).digest('hex');
    // Prepared here before and not lost since (an execute answering not_prepared forgets it): the
    // runtime has it; the bundle (hundreds of KB with its packages) need not travel again.
    if (this.#runtimeHashes.get(request.scriptHash) === runtimeHash && this.#mappers.has(runtimeHash)) return { ok: true, compileMs: roundMs(performance.now() - started) };
    const mapper = new BundleMapper(bundle);
    const result = await this.#inner.prepare({ scriptHash: runtimeHash, source: bundle.code });
    if (!result.ok) return { ok: false, error: mapper.compileFailure(result.error) };
    this.#runtimeHashes.set(request.scriptHash, runtimeHash);
    this.#mappers.set(runtimeHash, mapper);
    return { ...result, compileMs: roundMs(performance.now() - started) };
  }

  async execute(request: ExecuteRequest): Promise<InvocationResult> {
    const runtimeHash = this.#runtimeHashes.get(request.scriptHash);
    // Unknown here: a plain script, or a bundled one this replica has not bundled (the runtime then answers not_prepared).
    if (!runtimeHash) return this.#inner.execute(request);
    const result = await this.#inner.execute({ ...request, scriptHash: runtimeHash });
    if (result.status === 'not_prepared') {
      // The runtime lost it (a restart): the caller prepares again, and this time it travels.
      this.#runtimeHashes.delete(request.scriptHash);
      return result;
    }
    if (result.status !== 'error') return result;
    const mapper = this.#mappers.get(runtimeHash);
    return mapper ? { ...result, error: mapper.scriptError(result.error) } : result;
  }

  /** The bundle under `key`: from memory, the module store, or esbuild. */
  async #bundle(key: string, source: string, plan: BundlePlan, packages: readonly StoredPackage[]): Promise<Bundle | CompileFailure> {
    const cached = this.#bundles.get(key);
    if (cached !== undefined) {
      this.#counts.memoryHits++;
      return cached;
    }
    const stored = await this.#o.modules.get(key).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'nodejs bundler: the module store could not be read');
      return undefined;
    });
    const kept = stored && stored.toolchain === BUNDLER_TOOLCHAIN ? readStoredBundle(stored.module) : undefined;
    if (kept) {
      this.#counts.storeHits++;
      this.#bundles.set(key, kept);
      return kept;
    }
    const started = performance.now();
    const modulesDir = await this.#o.store.modulesDir();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CompileFailure>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'TimeoutError', message: `bundling the script and its dependencies took longer than ${this.#o.timeoutMs} ms` }), this.#o.timeoutMs);
    });
    const built = await Promise.race([
      bundleScript({ source, typescript: plan.typescript, packages, storeRoot: this.#o.store.root, modulesDir, maxBytes: this.#o.maxBundleBytes }).then((result) => (result.ok ? result.bundle : result.error)),
      timedOut,
    ]).finally(() => clearTimeout(timer));
    if ('kind' in built) {
      this.#counts.failures++;
      return built;
    }
    this.#counts.built++;
    this.#o.logger.info({ bundleBytes: built.code.length, mapBytes: built.map.length, ms: roundMs(performance.now() - started), packages: packages.map((p) => `${p.name}@${p.version}`) }, 'nodejs bundler: script bundled');
    this.#bundles.set(key, built);
    await this.#o.modules.put(key, { module: Buffer.from(JSON.stringify(built), 'utf8'), toolchain: BUNDLER_TOOLCHAIN }).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'nodejs bundler: the module store could not keep a bundle');
    });
    return built;
  }
}

/** A bundle as the module store keeps it (JSON of its code, map, file and line shift); undefined if it is not one. */
function readStoredBundle(bytes: Uint8Array): Bundle | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Bundle>;
    const { code, map, file, lineShift } = parsed;
    if (typeof code !== 'string' || typeof map !== 'string' || typeof file !== 'string' || typeof lineShift !== 'number') return undefined;
    return { code, map, file, lineShift };
  } catch {
    return undefined;
  }
}

/** What a bundle is built from, as a hex hash: the bundler, the script, its packages as installed. */
function bundleKey(source: string, plan: BundlePlan, packages: readonly StoredPackage[]): string {
  const hash = createHash('sha256').update(`nodejs-bundle\0${BUNDLER_TOOLCHAIN}\0${plan.typescript ? 'ts' : 'js'}\0`);
  for (const p of packages) hash.update(`${p.name}@${p.version}\0${p.dir}\0`);
  return hash.update(source).digest('hex');
}


