/**
 * `Control` for the JS backend: the same surface as the addon's (crate/src/binding/control.rs),
 * shared by the facade's `controlled` and the engine: progress counters, an abort flag the
 * engine checks between files, and a held import's commit or rollback.
 * @module
 */
export class Control {
  done = 0
  total = 0
  aborted = false
  /** Set by a held import: puts its stage in place, or removes it. */
  held: { commit(): number; rollback(): void; root?: string | Buffer } | null = null

  constructor(readonly holdCommit: boolean = false) {}

  abort(): void {
    this.aborted = true
  }

  /** Puts a held import in place; returns the retries that took (as the addon's). */
  commit(): number {
    const h = this.held
    this.held = null
    return h?.commit() ?? 0
  }

  rollback(): void {
    const h = this.held
    this.held = null
    h?.rollback()
  }
}
