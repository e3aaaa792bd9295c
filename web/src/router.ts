/**
 * Hash routes (`#/functions/nodejs-calculator`): the service serves one page at `/`, so the views
 * never need a route of their own on the server, and nothing the console navigates to reaches it.
 */
import { useEffect, useState } from 'preact/hooks';

/** The decoded path segments of the current hash: `#/sessions/abc` → `['sessions', 'abc']`. */
export function currentRoute(): string[] {
  const path = window.location.hash.replace(/^#\/?/, '');
  return path === '' ? [] : path.split('/').map((segment) => decodeURIComponent(segment));
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = (): void => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The href of a route: each segment is encoded, so a Language-Title or an id cannot break out of it. */
export function href(...segments: string[]): string {
  return `#/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
}

export function navigate(...segments: string[]): void {
  window.location.hash = href(...segments);
}
