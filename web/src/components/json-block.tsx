import { prettyJson } from '../json';

/** A JSON value as pretty text in a <pre>: whatever it holds (markup included) is shown, never interpreted. */
export function JsonBlock({ value, label }: { readonly value: unknown; readonly label?: string }) {
  return (
    <pre class="json" aria-label={label}>
      {prettyJson(value)}
    </pre>
  );
}

export function StatusBadge({ status }: { readonly status: string }) {
  return <span class={`badge badge-${status.replace(/[^a-z_-]/gi, '')}`}>{status}</span>;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
