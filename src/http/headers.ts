/** A header's value when it was sent once (not absent, not repeated). */
export function headerString(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : null;
}
