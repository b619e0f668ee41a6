/**
 * Thrown while classifying a statement the classifier cannot vouch for (an
 * unknown node type, an unknown SET form); the analysis turns it into an
 * `unclassified` error, which the policy denies: fail closed.
 */
export class UnclassifiedStatement extends Error {
  constructor(what: string) {
    super(`pgwarden cannot classify ${what}`);
    this.name = 'UnclassifiedStatement';
  }
}
