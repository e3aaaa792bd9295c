/**
 * The lines of a script around a position, the position marked with a caret (as compilers show
 * it): for compile and runtime errors whose details carry `line` (and `column`), both 1-based.
 */
export function sourceFrame(source: string, line: number, column?: number, around = 1): string[] {
  const lines = source.replace(/\r?\n$/, '').split(/\r?\n/);
  if (!Number.isInteger(line) || line < 1 || line > lines.length) return [];
  const first = Math.max(1, line - around);
  const last = Math.min(lines.length, line + around);
  const width = String(last).length;
  const frame: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1] ?? '';
    frame.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${text}`);
    if (n === line && column !== undefined && Number.isInteger(column) && column >= 1) {
      // Tabs stay tabs, so the caret lines up with what the terminal shows above it.
      const pad = text.slice(0, column - 1).replace(/[^\t]/g, ' ');
      frame.push(`  ${' '.repeat(width)} | ${pad}^`);
    }
  }
  return frame;
}
