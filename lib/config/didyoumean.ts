// "Did you mean" for misspelt keys, enum values and --set paths.
// Optimal-string-alignment distance (Levenshtein + adjacent transposition): 20 lines, so no
// dependency; fastest-levenshtein lacks transpositions, which are the commonest typo ("lr" / "rl").

export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate within a typo's reach (about a third of the word), or null. */
export function closest(word: string, candidatesIn: Iterable<string>, maxDistance?: number): string | null {
  const candidates = [...candidatesIn];
  const limit = maxDistance ?? Math.max(2, Math.floor(word.length / 3));
  const lower = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance || (distance === bestDistance && best !== null && candidate < best)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== null && bestDistance <= limit) return best;
  // A truncated or extended name ("food" / "food101"): suggest it when it is the only one.
  // (names only: for dotted paths a section would be a "prefix" of every key in it)
  const prefixed = lower.length >= 3 && !lower.includes(".") ? candidates.filter((c) => c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase())) : [];
  return prefixed.length === 1 ? prefixed[0] : null;
}
