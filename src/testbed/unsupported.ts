// The one error for "this host, kernel or stack cannot do that" (a missing qdisc, a sysctl a stack does
// not have, a lab a target cannot run). Callers tell it from a failure by class or by code.
export class UnsupportedError extends Error {
  readonly code = 'EUNSUPPORTED';
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedError';
  }
}
