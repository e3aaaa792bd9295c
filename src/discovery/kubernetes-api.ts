/**
 * The parts of talking to a Kubernetes API server that @kubernetes/client-node leaves to its
 * caller: loading the configuration as kubectl does, cancelling a list request, and reading its
 * failures and objects defensively (they come off the network).
 */
import { delimiter } from 'node:path';
import { ApiException, KubeConfig, Observable, type ConfigurationOptions, type RequestContext, type ResponseContext } from '@kubernetes/client-node';

/**
 * The client configuration outside tests: the kubeconfig file when given, else the Pod's service
 * account. loadFromCluster reads KUBERNETES_SERVICE_HOST/PORT itself (the library, not us: config.ts
 * stays the one reader of the environment in our code); outside a Pod they are unset.
 */
export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (kubeconfigPath) {
    const [first = '', ...more] = kubeconfigPath.split(delimiter).filter((file) => file.length > 0);
    kubeConfig.loadFromFile(first);
    for (const file of more) {
      const next = new KubeConfig();
      next.loadFromFile(file);
      kubeConfig.mergeConfig(next);
    }
  } else {
    kubeConfig.loadFromCluster();
  }
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server || !URL.canParse(server) || server.includes('undefined')) {
    throw new Error(
      kubeconfigPath
        ? `the kubeconfig ${kubeconfigPath} names no usable cluster server (${server ?? 'none'})`
        : 'Kubernetes discovery outside a Pod needs a kubeconfig file (KUBECONFIG): KUBERNETES_SERVICE_HOST is not set',
    );
  }
  return kubeConfig;
}

/** Per-request options that give a list request an AbortSignal (the generated API has no other way). */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** An object's `metadata.resourceVersion`, when it has a non-empty one. */
export function resourceVersionOf(object: unknown): string | undefined {
  const metadata = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata;
  return typeof metadata?.resourceVersion === 'string' && metadata.resourceVersion !== '' ? metadata.resourceVersion : undefined;
}

/** The HTTP status of a failed request (an ApiException from a list, a status error from a watch). */
export function statusCodeOf(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** A short reason for health and logs: the HTTP status and the API server's message, or the network error. */
export function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    let message: string | undefined;
    try {
      const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
      const candidate = (body as { message?: unknown } | null)?.message;
      if (typeof candidate === 'string') message = candidate;
    } catch {
      // Not a Status object: the code alone.
    }
    return `HTTP ${error.code}${message ? `: ${message}` : ''}`;
  }
  const status = statusCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `HTTP ${status} ${message}`;
}
