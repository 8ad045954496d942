/** nginx's time and size syntax (ngx_parse_time / ngx_parse_size) in Gatehouse's spelling. */

const TIME_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, M: 30 * 86_400_000, y: 365 * 86_400_000 };

/** `90`, `60s`, `1m30s`, `500ms` → milliseconds; undefined when nginx would refuse it too. */
export function nginxMs(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const m = /^(\d+)(ms|s|m|h|d|w|M|y)/.exec(rest);
    if (m === null) return undefined;
    total += Number(m[1]) * (TIME_UNITS[m[2] ?? 's'] ?? 1000);
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Milliseconds as a Gatehouse duration: the largest unit that divides it (`600s` → `10m`). */
export function duration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** An nginx time as a Gatehouse duration, or undefined. */
export function nginxDuration(text: string): string | undefined {
  const ms = nginxMs(text);
  return ms === undefined ? undefined : duration(ms);
}

/** `10M`, `512k`, `0` → Gatehouse's size spelling (`10m`; both count powers of 1024). */
export function nginxSize(text: string): string | number | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (m === null) return undefined;
  return m[2] === '' ? Number(m[1]) : `${m[1]}${(m[2] ?? '').toLowerCase()}`;
}
