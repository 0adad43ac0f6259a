/**
 * What every state machine of the api shares: a table of allowed moves and
 * the guard a conditional UPDATE is built from. A move is one statement,
 * `UPDATE … SET state = to WHERE id = … AND state IN (states that may move
 * to it)`, so two replicas racing for one row leave exactly one winner and a
 * row that moved on meanwhile is simply not matched (count 0) — no lock, no
 * read-then-write. Asking for a move the table does not have is a defect of
 * the caller and throws at once.
 */

/** For each state, the states it may move to. A state listed as its own target may be re-entered (idempotent). */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

/** A move the table does not allow was asked for: a programming error, never a race. */
export class ForbiddenTransition extends Error {
  constructor(machine: string, from: readonly string[], to: string) {
    super(`${machine}: no transition from ${from.join(' | ')} to ${to} in its state table`);
    this.name = 'ForbiddenTransition';
  }
}

/** True when the table lets `from` move to `to`. */
export function canTransition<S extends string>(table: TransitionTable<S>, from: S, to: S): boolean {
  return table[from].includes(to);
}

/**
 * The states a row may be in for a move to `to`: every state the table lets move there, or the
 * caller's narrower `from`, each of which must be allowed.
 */
export function sourcesOf<S extends string>(
  machine: string,
  table: TransitionTable<S>,
  to: S,
  from?: readonly S[],
): S[] {
  const allowed = (Object.keys(table) as S[]).filter((s) => table[s].includes(to));
  const asked = from ?? allowed;
  const forbidden = asked.filter((s) => !allowed.includes(s));
  if (forbidden.length > 0 || asked.length === 0) throw new ForbiddenTransition(machine, forbidden, to);
  return [...asked];
}
