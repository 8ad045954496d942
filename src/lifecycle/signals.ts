/**
 * Signals from the first instruction to the running edge. Until something can act on them, the
 * kernel default would end the process on SIGHUP (exit 129: `systemctl reload` right after a
 * start, a certbot deploy hook during a restart). This holds them instead:
 * - SIGHUP is remembered and handed to the running edge (`handOver`), which reloads once if the
 *   file changed since it was read, and says so if not.
 * - SIGTERM/SIGINT before any listener is bound exit 0 at once (nothing to drain); once
 *   listeners are being bound (`binding()`) they are remembered and handed over as a drain.
 */
export type StopSignal = 'SIGTERM' | 'SIGINT';

export interface SignalHandlers {
  reload(): void;
  stop(signal: StopSignal): void;
}

type Phase = 'loading' | 'binding' | 'handed-over';

export class StartupSignals {
  #phase: Phase = 'loading';
  #hups = 0;
  #stop: StopSignal | undefined;
  readonly #process: NodeJS.Process;
  readonly #listeners: ReadonlyArray<readonly [StopSignal | 'SIGHUP', () => void]>;

  private constructor(proc: NodeJS.Process) {
    this.#process = proc;
    this.#listeners = [
      ['SIGHUP', () => { this.#hups++; }],
      ['SIGTERM', () => this.#onStop('SIGTERM')],
      ['SIGINT', () => this.#onStop('SIGINT')],
    ];
  }

  /** Own SIGHUP, SIGTERM and SIGINT now (call before anything slow). */
  static install(proc: NodeJS.Process): StartupSignals {
    const held = new StartupSignals(proc);
    for (const [signal, listener] of held.#listeners) proc.on(signal, listener);
    return held;
  }

  /** SIGHUPs seen and not yet handed over. */
  get pendingReloads(): number {
    return this.#hups;
  }

  /** Listeners are about to be bound: from here a stop signal must drain, not just exit. */
  binding(): void {
    if (this.#phase === 'loading') this.#phase = 'binding';
  }

  /**
   * The running edge (or the cluster primary) owns the signals from now on; returns what was
   * held for the caller to replay (a stop wins over a reload; several SIGHUPs are one reload).
   */
  handOver(handlers: SignalHandlers): { readonly reloads: number; readonly stop: StopSignal | undefined } {
    const held = { reloads: this.#hups, stop: this.#stop };
    this.#phase = 'handed-over';
    for (const [signal, listener] of this.#listeners) this.#process.off(signal, listener);
    this.#process.on('SIGHUP', () => handlers.reload());
    this.#process.on('SIGTERM', () => handlers.stop('SIGTERM'));
    this.#process.on('SIGINT', () => handlers.stop('SIGINT'));
    this.#hups = 0;
    return held;
  }

  #onStop(signal: StopSignal): void {
    // Before listeners exist nothing is served, so nothing is lost by leaving now.
    if (this.#phase === 'loading') this.#process.exit(0);
    this.#stop ??= signal;
  }
}
