/**
 * What the watched EndpointSlices add up to: every slice by name, each language's endpoint set
 * derived from them, and a listener told a language's whole set whenever it changes (a slice
 * event that changes no set tells nobody).
 */
import { isIPv6 } from 'node:net';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { LANGUAGES, type Language } from '../runtimes/runtime.js';
import type { EndpointsListener } from './endpoint-source.js';

/** The label an EndpointSlice names its Service with. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** What a slice contributes: the Service it belongs to and its usable `host:port` addresses. */
interface SliceEndpoints {
  readonly service: string | undefined;
  readonly addresses: readonly string[];
}

export interface EndpointSliceTableOptions {
  /** Each language's runtime Service (several languages may share one). */
  readonly services: Readonly<Record<Language, string>>;
  /** The EndpointSlice port used, by name; a slice without a port of this name uses its first port. */
  readonly portName: string;
  readonly logger: Logger;
  readonly onChange: EndpointsListener;
}

export class EndpointSliceTable {
  readonly #o: EndpointSliceTableOptions;
  readonly #languagesByService = new Map<string, Language[]>();
  /** Every watched slice by name (names are unique in the namespace). */
  readonly #slices = new Map<string, SliceEndpoints>();
  /** What the listener was last told per language, as the joined address list. */
  readonly #reported = new Map<Language, string>();

  constructor(options: EndpointSliceTableOptions) {
    this.#o = options;
    for (const language of LANGUAGES) {
      const service = options.services[language];
      this.#languagesByService.set(service, [...(this.#languagesByService.get(service) ?? []), language]);
    }
  }

  /** The Services watched, sorted. */
  get services(): string[] {
    return [...this.#languagesByService.keys()].sort();
  }

  /** A language's current endpoints, sorted and without repeats. */
  endpointsOf(language: Language): string[] {
    const service = this.#o.services[language];
    const addresses = new Set<string>();
    for (const slice of this.#slices.values()) {
      if (slice.service === service) for (const address of slice.addresses) addresses.add(address);
    }
    return [...addresses].sort();
  }

  /** Replaces every slice known with a full list's. */
  replace(items: readonly V1EndpointSlice[]): void {
    this.#slices.clear();
    for (const item of items) {
      const name = item.metadata?.name;
      if (name) this.#slices.set(name, sliceEndpoints(item, this.#o.portName));
    }
    this.#publish(LANGUAGES);
  }

  upsert(slice: V1EndpointSlice): void {
    const name = slice.metadata?.name;
    if (!name) return;
    const before = this.#slices.get(name);
    const after = sliceEndpoints(slice, this.#o.portName);
    this.#slices.set(name, after);
    this.#publish(new Set(this.#languagesOf(before?.service, after.service)));
  }

  remove(slice: V1EndpointSlice): void {
    const name = slice.metadata?.name;
    const before = name === undefined ? undefined : this.#slices.get(name);
    if (name === undefined || !before) return;
    this.#slices.delete(name);
    this.#publish(this.#languagesOf(before.service));
  }

  #languagesOf(...services: (string | undefined)[]): Language[] {
    return services.flatMap((service) => (service === undefined ? [] : (this.#languagesByService.get(service) ?? [])));
  }

  /** Tells the listener the current set of each given language whose set differs from what it was told. */
  #publish(languages: Iterable<Language>): void {
    const { logger } = this.#o;
    for (const language of languages) {
      const addresses = this.endpointsOf(language);
      const key = addresses.join(',');
      if (this.#reported.get(language) === key) continue;
      this.#reported.set(language, key);
      logger.info({ language, endpoints: addresses }, 'runtime endpoints from Kubernetes');
      try {
        this.#o.onChange(language, addresses);
      } catch (error) {
        logger.error({ err: error, language }, 'runtime endpoints listener failed');
      }
    }
  }
}

/**
 * The endpoints of one slice that may take new calls: `conditions.ready` unset counts as ready (per
 * the API), terminating ones are out. The first address of each endpoint is used (the API says the
 * addresses of one endpoint are fungible); the port is the one named `portName`, else the first.
 */
function sliceEndpoints(slice: V1EndpointSlice, portName: string): SliceEndpoints {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  const ports = slice.ports ?? [];
  const port = (ports.find((p) => p.name === portName) ?? ports[0])?.port;
  if (port === undefined || port === null) return { service, addresses: [] };
  const addresses: string[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    if (endpoint.conditions?.ready === false || endpoint.conditions?.terminating === true) continue;
    const host = endpoint.addresses?.[0];
    if (!host) continue;
    addresses.push(isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);
  }
  return { service, addresses };
}
