/**
 * JSON.stringify without recursion: V8's stringify overflows the stack at a few thousand levels,
 * while JSON.parse takes any depth, so a hostile server can send what JSON.stringify cannot write.
 * Handles what JSON has (no undefined inside arrays: written as null, as JSON.stringify does).
 */
export function stringifyDeep(value: unknown): string {
  const out: string[] = [];
  // A work stack of values to write and literal text to emit.
  const stack: Array<{ text: string } | { value: unknown; inArray: boolean }> = [{ value, inArray: true }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    const v = item.value;
    if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') {
      out.push('null');
    } else if (typeof v === 'number') {
      out.push(Number.isFinite(v) ? JSON.stringify(v) : 'null');
    } else if (typeof v === 'boolean' || typeof v === 'string') {
      out.push(JSON.stringify(v));
    } else if (typeof v === 'bigint') {
      throw new TypeError('bigint has no JSON form');
    } else if (Array.isArray(v)) {
      const parts: Array<{ text: string } | { value: unknown; inArray: boolean }> = [{ text: '[' }];
      v.forEach((x, i) => {
        if (i > 0) parts.push({ text: ',' });
        parts.push({ value: x, inArray: true });
      });
      parts.push({ text: ']' });
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
    } else {
      const entries = Object.entries(v as Record<string, unknown>).filter(
        ([, x]) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol',
      );
      const parts: Array<{ text: string } | { value: unknown; inArray: boolean }> = [{ text: '{' }];
      entries.forEach(([k, x], i) => {
        parts.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(k)}:` });
        parts.push({ value: x, inArray: false });
      });
      parts.push({ text: '}' });
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
    }
  }
  return out.join('');
}
