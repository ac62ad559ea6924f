// The few largest of many (the most lagging consumers, the busiest assignees), for exports whose
// size must not grow with the count: one pass, no sort of the whole list.

/** The `n` items that sort first by `compare` (a total order, so the choice is stable), in that order. */
export function topN<T>(items: Iterable<T>, n: number, compare: (a: T, b: T) => number): T[] {
  const top: T[] = [];
  if (n <= 0) return top;
  for (const item of items) {
    if (top.length === n) {
      if (compare(item, top[n - 1]!) >= 0) continue;
      top.pop();
    }
    let at = top.length;
    while (at > 0 && compare(item, top[at - 1]!) < 0) at--;
    top.splice(at, 0, item);
  }
  return top;
}

/** Code-unit order of two texts: the tie-break that keeps a top N's choice stable. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
