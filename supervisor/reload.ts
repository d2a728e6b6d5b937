// SIGHUP: chatd reads its config file again (the command line's --port and
// --host still win) and applies what may change while it runs, as
// lib/config.ts RELOAD says key by key; and reopens its log file, so that
// log rotation (move the file, then SIGHUP) needs no restart. A file that
// does not read or validate changes nothing. Each outcome is one log line:
// `config_reloaded`, `config_reload_partial` (keys that need a restart, kept
// as they were), `config_reload_failed`.
import { ConfigError, loadConfigFile, planReload, SECRET_KEYS, type Config, type ReloadPlan } from '../lib/config.js';
import type { LogSink } from '../lib/log-sink.js';
import type { Logger } from '../lib/logger.js';
import type { Supervisor } from './supervisor.js';

/** Where the config came from at start. */
export interface ConfigSource {
  /** The --config file; undefined when chatd was started without one (nothing to read again). */
  path: string | undefined;
  /** From the command line: they win over the file, at a reload too. */
  overrides: Record<string, unknown>;
}

export type Reloadable = Pick<Supervisor, 'config' | 'log' | 'status' | 'registry' | 'reconfigure'>;

/** Reads the config again and applies it; returns the plan carried out, or undefined if nothing was. */
export function reloadConfig(sup: Reloadable, src: ConfigSource): ReloadPlan | undefined {
  const log = sup.log;
  if (src.path === undefined) {
    log.warn({ event: 'config_reload_skipped', reason: 'no config file' }, 'SIGHUP: chatd was started without --config; nothing to reload');
    return undefined;
  }
  if (sup.status === 'stopping' || sup.status === 'stopped') {
    log.info({ event: 'config_reload_skipped', path: src.path, reason: 'stopping' }, 'SIGHUP while stopping: config not reloaded');
    return undefined;
  }
  let plan: ReloadPlan;
  try {
    plan = planReload(sup.config, loadConfigFile(src.path, src.overrides));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error({ event: 'config_reload_failed', path: src.path, reason: err.message }, 'config not reloaded, nothing changed: the file does not read or validate (see reason)');
    return undefined;
  }
  if (plan.notApplied.length > 0) {
    log.warn(
      { event: 'config_reload_partial', path: src.path, notApplied: plan.notApplied },
      `changed keys that only a restart of chatd applies, kept as they were: ${plan.notApplied.join(', ')}`,
    );
  }
  // Logged before the new logLevel applies: a reload that raises it still says so.
  log.info(
    {
      event: 'config_reloaded',
      path: src.path,
      changed: plan.changed,
      newRoomsOnly: plan.newRoomsOnly,
      values: valuesOf(plan.config, plan.changed),
      rooms: sup.registry.size,
    },
    plan.changed.length === 0 ? 'config reloaded: nothing to change' : `config reloaded: ${plan.changed.join(', ')}`,
  );
  if (plan.changed.length > 0) sup.reconfigure(plan.config);
  return plan;
}

/** The new values of the keys named, secrets left out. */
function valuesOf(c: Config, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (!SECRET_KEYS.has(k)) out[k] = c[k as keyof Config];
  return out;
}

/** A file destination is opened again by its path (log rotation); stdout is left alone. */
export function reopenLog(sink: LogSink, log: Logger): void {
  if (sink.path === undefined) return;
  try {
    sink.reopen();
    log.info({ event: 'log_reopened', path: sink.path }, 'log file reopened');
  } catch (err) {
    // The old file, if it is still there, keeps the lines.
    log.error({ event: 'log_reopen_failed', path: sink.path, reason: (err as Error).message }, `cannot reopen the log file: ${(err as Error).message}`);
  }
}
