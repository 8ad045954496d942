import { StartupSignals } from './signals.js';

/**
 * Imported first by cli.ts, so that it is evaluated before the rest of the module graph (ES
 * modules evaluate dependencies in import order): signal dispositions are process-wide state,
 * and this is the one place that takes them, as early as JavaScript runs.
 */
export const startupSignals = StartupSignals.install(process);
